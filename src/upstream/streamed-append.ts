import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { atom, type Token } from './imap-tokens.js';

/** One message of an APPEND, as it goes upstream: its literal is streamed, never held whole. */
export interface OutgoingMessage {
  flags: readonly string[];
  /** An IMAP date-time, checked by the caller. */
  internalDate?: string;
  size: number;
  /** Sent as a literal8 (RFC 3516: the message may hold NUL bytes). */
  literal8: boolean;
  /** The message's bytes, `size` of them, read when upstream asks for them. */
  open(): Readable;
}

/** What a streamed APPEND needs of the connection: a raw command, and its socket to write literals on. */
export interface RawChannel {
  /**
   * Sends a command; `onContinuation` is called for each `+` upstream sends while it runs, and
   * `onSent` (where given) once its line is on the socket: a literal that waits for no `+`
   * follows it there.
   */
  exec(command: string, attributes: Token[], onContinuation: () => void, onSent?: () => void): Promise<{ attributes?: Token[] }>;
  /** Where a literal's bytes go, once upstream asked for them (the socket, or its compressor). */
  socket(): Writable;
  /** Ends the connection: an APPEND cut off mid-command must leave nothing upstream. */
  abort(): void;
  /** Upstream takes literal8 (BINARY); elsewhere a message goes as a plain literal and upstream judges its bytes. */
  literal8: boolean;
  /**
   * The largest literal sent without waiting for upstream's `+` (RFC 7888: any size with LITERAL+,
   * 4,096 bytes with LITERAL-; 0 without either). A small message then costs no round trip
   * before its bytes; a large one still waits, so that upstream can refuse it before it is sent.
   */
  nonSyncMax: number;
}

/** The largest message sent as a non-synchronizing literal where upstream has LITERAL+. */
export const NON_SYNC_APPEND_MAX = 64 * 1024;
/** The largest non-synchronizing literal LITERAL- allows (RFC 7888 4). */
export const LITERAL_MINUS_MAX = 4096;

/** Whether a message's literal goes without waiting for upstream's `+`. */
const nonSync = (channel: RawChannel, message: OutgoingMessage) => message.size <= channel.nonSyncMax;

/** `~{n}`, `{n+}`: a message's literal announcement (literal8 where both sides have BINARY; non-synchronizing where it may be). */
function announcement(channel: RawChannel, message: OutgoingMessage): string {
  return `${channel.literal8 && message.literal8 ? '~' : ''}{${message.size}${nonSync(channel, message) ? '+' : ''}}`;
}

/** The arguments of one message before its literal (RFC 3502: `[flag-list] [date-time] literal`). */
function messageArguments(channel: RawChannel, message: OutgoingMessage): Token[] {
  const args: Token[] = [];
  if (message.flags.length) args.push(message.flags.map(atom));
  if (message.internalDate) args.push({ type: 'STRING', value: message.internalDate });
  // the literal's announcement is written as it is: its bytes are not in the command imapflow compiles
  args.push({ type: 'TEXT', value: announcement(channel, message) });
  return args;
}

/** `" (\Seen) "date" {n}"`: a later message's arguments, written on the command's line after a literal. */
function continuationLine(channel: RawChannel, message: OutgoingMessage): string {
  let line = '';
  if (message.flags.length) line += ` (${message.flags.join(' ')})`;
  if (message.internalDate) line += ` "${message.internalDate}"`;
  return `${line} ${announcement(channel, message)}\r\n`;
}

/**
 * APPEND of `messages` in one upstream command (MULTIAPPEND when there are several: the caller
 * knows upstream has it). A literal is written, with the socket's backpressure, once upstream
 * asked for it, or at once where it is non-synchronizing (nonSyncMax). Returns upstream's tagged
 * answer. Upstream refusing one message refuses the command; a failure midway ends the
 * connection, and upstream then stores none of them.
 */
export async function streamedAppend(channel: RawChannel, mailbox: Token, messages: readonly OutgoingMessage[]): Promise<{ attributes?: Token[] }> {
  const first = messages[0];
  if (!first) throw new Error('an APPEND without a message');
  let continuation = Promise.withResolvers<void>();
  // a first literal that waits for no `+` waits for the command's line to be on the socket
  const sent = nonSync(channel, first) ? continuation : undefined;
  const answered = channel.exec('APPEND', [mailbox, ...messageArguments(channel, first)], () => continuation.resolve(), sent && (() => sent.resolve()));
  // upstream may answer (NO, BAD, a closed connection) instead of asking for a literal: each wait races this
  const gone = answered.then(
    () => ({ gone: new Error('upstream answered APPEND before its literal was sent') as unknown }),
    (err: unknown) => ({ gone: err }),
  );
  try {
    for (const [i, message] of messages.entries()) {
      if (i === 0 || !nonSync(channel, message)) {
        const asked = await Promise.race([continuation.promise.then(() => ({})), gone]);
        if ('gone' in asked) throw asked.gone;
        continuation = Promise.withResolvers<void>();
      }
      await writeLiteral(channel.socket(), message, gone);
      const next = messages[i + 1];
      channel.socket().write(next ? continuationLine(channel, next) : '\r\n');
    }
  } catch (err) {
    channel.abort();
    void answered.catch(() => undefined);
    throw err;
  }
  return answered;
}

/** Copies a literal's bytes to the socket, waiting for it to drain; stops when upstream is gone (`gone` resolves with why). */
async function writeLiteral(socket: Writable, message: OutgoingMessage, gone: Promise<{ gone: unknown }>): Promise<void> {
  const body = message.open();
  let written = 0;
  try {
    for await (const chunk of body) {
      written += (chunk as Buffer).length;
      if (socket.write(chunk as Buffer)) continue;
      const drained = await Promise.race([once(socket, 'drain').then(() => undefined), gone]);
      if (drained) throw drained.gone;
    }
  } finally {
    body.destroy();
  }
  if (written !== message.size) throw new Error(`a literal of ${message.size} bytes ended after ${written}`);
}
