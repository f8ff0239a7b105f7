import type { Readable } from 'node:stream';
import { RESPONSE_COALESCE_BYTES } from '../model/limits.js';

/**
 * How imap-core's output stream (a Transform piped into the socket, or into the deflate stream
 * after COMPRESS) sends what it is given, as core-patches.ts installs it:
 * - the lines of one turn of the event loop are joined and go out as one chunk (one write, one
 *   packet: a SELECT's nine lines were nine writes, and on loopback each write costs the reader a
 *   wake-up too); at most RESPONSE_COALESCE_BYTES wait, a longer run goes out as it fills;
 * - a streamed literal goes through the same stream, with its backpressure, instead of being piped
 *   straight into the socket past the lines queued before it (imap-core's way: while the socket
 *   was full, its pipe from the output stream paused and a literal overtook those lines).
 * One ordered channel: nothing reaches the socket but through it, except what imap-core writes
 * itself while a connection closes or starts TLS, for which flushLines() runs first.
 */
export interface OutputStream {
  push(chunk: Buffer): boolean;
  emit(event: 'error', err: unknown): boolean;
  readonly destroyed: boolean;
  readonly connection?: { _socket?: SocketLike };
  [QUEUED]?: Queued;
}

interface SocketLike {
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

interface Queued {
  lines: Buffer[];
  bytes: number;
  flushing: NodeJS.Immediate | undefined;
  /** A literal being streamed: paused while the stream's reader is full, resumed when it reads. */
  literal: Readable | undefined;
}

const QUEUED = Symbol('queued output');
const CRLF = Buffer.from('\r\n');

function queuedOf(output: OutputStream): Queued {
  output[QUEUED] ??= { lines: [], bytes: 0, flushing: undefined, literal: undefined };
  return output[QUEUED];
}

/** Queues one response line (without its CRLF) to go out with the others of this turn. */
export function queueLine(output: OutputStream, line: Buffer): void {
  queue(output, line);
  queue(output, CRLF);
}

function queue(output: OutputStream, bytes: Buffer): void {
  const queued = queuedOf(output);
  queued.lines.push(bytes);
  queued.bytes += bytes.length;
  if (queued.bytes >= RESPONSE_COALESCE_BYTES) flushLines(output);
  else queued.flushing ??= setImmediate(() => flushLines(output));
}

/** Sends the queued lines now, as one chunk. */
export function flushLines(output: OutputStream): void {
  const queued = output[QUEUED];
  if (!queued || queued.lines.length === 0) return;
  const { lines, bytes } = queued;
  queued.lines = [];
  queued.bytes = 0;
  if (queued.flushing) clearImmediate(queued.flushing);
  queued.flushing = undefined;
  if (!output.destroyed) output.push(lines.length === 1 ? (lines[0] as Buffer) : Buffer.concat(lines, bytes));
}

/**
 * Sends a literal's stream through the output stream, then the CRLF that ends its response;
 * `done` once it has gone (or the client has: the stream is then destroyed, not left waiting).
 */
export function streamLiteral(output: OutputStream, literal: Readable, done: () => void): void {
  flushLines(output);
  const queued = queuedOf(output);
  queued.literal = literal;
  const socket = output.connection?._socket;
  const clientGone = () => literal.destroy();
  socket?.once('close', clientGone);
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    queued.literal = undefined;
    socket?.off('close', clientGone);
    literal.off('data', onData);
    done();
  };
  const onData = (chunk: Buffer) => {
    if (!output.destroyed && !output.push(chunk)) literal.pause();
  };
  literal.on('data', onData);
  literal.once('end', () => {
    queue(output, CRLF);
    finish();
  });
  literal.once('close', finish);
  // as imap-core does: the connection reports it and closes
  literal.once('error', (err) => output.emit('error', err));
}

/** The output stream's reader wants more: a literal paused for it goes on. */
export function resumeLiteral(output: OutputStream): void {
  const literal = output[QUEUED]?.literal;
  if (literal?.isPaused()) literal.resume();
}
