import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ProxyError } from '../../model/errors.js';
import { RESPONSE_COALESCE_BYTES } from '../../model/limits.js';
import type { ImapSession } from '../imap-core.js';

const CRLF = Buffer.from('\r\n');

/** A piece of one response: bytes, or a stream of exactly `length` bytes (a literal's content). */
export type Segment = Buffer | { length: number; stream: Readable };

/**
 * Writes untagged responses to a client through imap-core's output stream (which appends CRLF
 * to everything written to it). Small responses are joined into one write; responses with a
 * streamed literal are written as one Readable. Waits for the client to drain, so memory stays
 * bounded however much is fetched.
 */
export class ResponseWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly session: ImapSession) {}

  /** Queues one response (without its CRLF). */
  async write(segments: Segment[]): Promise<void> {
    let size = 0;
    for (const segment of segments) size += segment.length;
    if (size < RESPONSE_COALESCE_BYTES && segments.every(Buffer.isBuffer)) {
      // the pieces are kept as they are and copied once, when the joined write is made
      if (this.pending.length) this.pending.push(CRLF);
      this.pending.push(...(segments as Buffer[]));
      this.pendingBytes += size + 2;
      if (this.pendingBytes >= RESPONSE_COALESCE_BYTES) await this.flush();
      return;
    }
    // a large response is not copied into one buffer: its pieces go out one after the other
    await this.flush();
    await this.push(Readable.from(concatSegments(segments, this.session), { objectMode: false }));
  }

  /**
   * Flushes what is left so that it goes out in one write with the command's tagged answer: the
   * socket is corked until the end of this turn of the event loop. A client fetching one message
   * per command then waits for one packet, not two.
   */
  async end(): Promise<void> {
    const { socket } = this.session;
    socket.cork();
    setImmediate(() => socket.uncork());
    await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const compiled = Buffer.concat(this.pending, this.pendingBytes - 2);
    this.pending = [];
    this.pendingBytes = 0;
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
    for (const segment of segments) if (!Buffer.isBuffer(segment)) segment.stream.destroy();
  }
}
