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
    let size = 0;
    for (const segment of segments) {
      if (typeof segment === 'string') size += segment.length; // ASCII or not, at most 3 bytes per UTF-16 unit: checked below
      else if (Buffer.isBuffer(segment)) size += segment.length;
      else return false;
    }
    if (size >= RESPONSE_COALESCE_BYTES) return false;
    const room = RESPONSE_COALESCE_BYTES - this.used - 2;
    if (size > room || (size * 3 > room && this.byteLength(segments) > room)) return false;
    this.joined ??= Buffer.allocUnsafe(RESPONSE_COALESCE_BYTES);
    const joined = this.joined;
    if (this.used > 0) this.used += CRLF.copy(joined, this.used);
    for (const segment of segments) {
      this.used += typeof segment === 'string' ? joined.write(segment, this.used, 'utf8') : (segment as Buffer).copy(joined, this.used);
    }
    return true;
  }

  private byteLength(segments: Segment[]): number {
    let bytes = 0;
    for (const segment of segments) bytes += typeof segment === 'string' ? Buffer.byteLength(segment) : segment.length;
    return bytes;
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
