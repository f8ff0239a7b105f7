import { once } from 'node:events';
import { Readable } from 'node:stream';
import { responseBytesSent } from '../../cache/gc-pacer.js';
import { ProxyError } from '../../model/errors.js';
import { RESPONSE_COALESCE_BYTES } from '../../model/limits.js';
import type { ImapSession } from '../imap-core.js';

const CRLF = Buffer.from('\r\n');

/** A literal's content: bytes in memory, or a stream of exactly `length` bytes. */
export type LiteralBytes = Buffer | { length: number; stream: Readable };

/** A piece of one response: text (UTF-8) or bytes. */
export type Segment = string | LiteralBytes;

/** Where a response is rendered: text (UTF-8), numbers and literal bytes, in order. */
export interface ResponseSink {
  text(text: string): void;
  number(value: number): void;
  bytes(bytes: LiteralBytes): void;
}

/** Renders into segments: text runs joined into one string between literals. */
class SegmentSink implements ResponseSink {
  readonly segments: Segment[] = [];
  private pending = '';

  text(text: string): void {
    this.pending += text;
  }

  number(value: number): void {
    this.pending += value;
  }

  bytes(bytes: LiteralBytes): void {
    this.segments.push(this.pending, bytes);
    this.pending = '';
  }

  end(): Segment[] {
    this.segments.push(this.pending);
    return this.segments;
  }
}

const ZERO = 0x30;

/**
 * Renders straight into a buffer from `at` on, making no string or Buffer on the way; `full`
 * once something did not fit (or is a stream): then nothing it wrote counts.
 */
class BufferSink implements ResponseSink {
  full = false;
  buffer: Buffer = Buffer.alloc(0);
  at = 0;

  /** Renders from `at` on in `buffer` from here on. */
  reset(buffer: Buffer, at: number): void {
    this.buffer = buffer;
    this.at = at;
    this.full = false;
  }

  text(text: string): void {
    if (this.full) return;
    // at most 3 bytes per UTF-16 unit: the exact count only where that bound does not fit
    if (this.at + text.length * 3 > this.buffer.length && this.at + Buffer.byteLength(text) > this.buffer.length) {
      this.full = true;
      return;
    }
    this.at += this.buffer.write(text, this.at, 'utf8');
  }

  number(value: number): void {
    // a safe integer has at most 16 digits
    if (this.full || this.at + 16 > this.buffer.length || !Number.isSafeInteger(value) || value < 0) {
      if (!this.full) this.text(String(value));
      return;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let pos = this.at + digits;
    this.at = pos;
    let rest = value;
    do {
      this.buffer[--pos] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
  }

  bytes(bytes: LiteralBytes): void {
    if (this.full || !Buffer.isBuffer(bytes) || this.at + bytes.length > this.buffer.length) {
      this.full = true;
      return;
    }
    this.at += bytes.copy(this.buffer, this.at);
  }
}

/**
 * Writes untagged responses to a client through imap-core's output stream (which appends CRLF
 * to everything written to it). Small responses are copied straight into one buffer and sent as
 * one write (a FETCH of 100,000 messages makes no Buffer per line); responses with a streamed
 * literal are written as one Readable. Waits for the client to drain, so memory stays bounded
 * however much is fetched.
 */
export class ResponseWriter {
  /** Where small responses are joined; handed on whole when it is sent (never written to again). */
  private joined: Buffer | undefined;
  private used = 0;
  /** Renders into what is joined (beginJoined). */
  private readonly sink = new BufferSink();

  constructor(private readonly session: ImapSession) {}

  /** Queues one response (without its CRLF). */
  async write(segments: Segment[]): Promise<void> {
    if (this.add(segments)) return;
    if (this.used > 0) await this.flush();
    if (this.add(segments)) return;
    // a large response is not copied into one buffer: its pieces go out one after the other
    await this.push(Readable.from(concatSegments(segments, this.session), { objectMode: false }));
  }

  /**
   * Queues one response (without its CRLF) if that needs no wait: it is small, all in memory, and
   * fits in what is joined so far. False otherwise: then write() it.
   */
  add(segments: Segment[]): boolean {
    const sink = this.beginJoined();
    for (const segment of segments) {
      if (typeof segment === 'string') sink.text(segment);
      else sink.bytes(segment);
    }
    return this.endJoined();
  }

  /**
   * Starts a response (without its CRLF) rendered straight into what is joined, with no wait (a
   * FETCH of 100,000 messages then makes no string per line): render it into the sink returned,
   * then call endJoined().
   */
  beginJoined(): ResponseSink {
    this.joined ??= Buffer.allocUnsafe(RESPONSE_COALESCE_BYTES);
    // the CRLF between it and what is joined before it is left room for
    this.sink.reset(this.joined, this.used > 0 ? this.used + CRLF.length : 0);
    return this.sink;
  }

  /** Keeps the response begun with beginJoined() if it fit; false (nothing kept) if it did not or has a streamed literal: then render() it. */
  endJoined(): boolean {
    const sink = this.sink;
    if (sink.full || sink.at > RESPONSE_COALESCE_BYTES - CRLF.length || sink.buffer !== this.joined) return false;
    if (this.used > 0) CRLF.copy(sink.buffer, this.used);
    this.used = sink.at;
    return true;
  }

  /** Queues one response (without its CRLF) that `render` puts in a sink: joined where it fits, else after what is joined is sent, or on its own. */
  async render(render: (sink: ResponseSink) => void): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      render(this.beginJoined());
      if (this.endJoined()) return;
      if (this.used === 0) break;
      await this.flush();
    }
    const segments = new SegmentSink();
    render(segments);
    await this.write(segments.end());
  }

  /** Sends what is joined so far (what is left at a command's end goes out in one write with its tagged answer: response-output.ts). */
  async flush(): Promise<void> {
    if (!this.joined || this.used === 0) return;
    const compiled = this.joined.subarray(0, this.used);
    this.joined = undefined;
    this.used = 0;
    responseBytesSent(compiled.length);
    await this.push({ compiled });
  }

  private async push(item: object): Promise<void> {
    const { writeStream, socket } = this.session;
    if (socket.destroyed) throw new ProxyError('CLIENT_GONE', 'the client disconnected');
    if (writeStream.write(item)) return;
    // the listener of the event that did not come is removed: a session waits for drain many times
    const waits = new AbortController();
    try {
      await Promise.race([once(writeStream, 'drain', { signal: waits.signal }), once(socket, 'close', { signal: waits.signal })]);
    } finally {
      waits.abort();
    }
    if (socket.destroyed) throw new ProxyError('CLIENT_GONE', 'the client disconnected');
  }
}

async function* concatSegments(segments: Segment[], session: ImapSession): AsyncGenerator<Buffer> {
  try {
    for (const segment of segments) {
      if (typeof segment === 'string') {
        yield Buffer.from(segment, 'utf8');
        continue;
      }
      if (Buffer.isBuffer(segment)) {
        yield segment;
        continue;
      }
      let sent = 0;
      for await (const chunk of segment.stream) {
        sent += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (sent !== segment.length) throw new Error(`literal announced ${segment.length} bytes, had ${sent}`);
    }
  } catch (err) {
    // the literal's length is on the wire: there is no way to answer an error in-band, and a
    // client waiting for the rest would hang until its timeout
    session.socket.destroy();
    throw err;
  } finally {
    for (const segment of segments) if (typeof segment !== 'string' && !Buffer.isBuffer(segment)) segment.stream.destroy();
  }
}
