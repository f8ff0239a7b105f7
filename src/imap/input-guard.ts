import type { ImapSession } from './imap-core.js';
import { contain } from './session-state.js';

/** One line of input as imap-core's parser hands it on. */
export type ParsedLine =
  | {
      value: string;
      final: boolean;
      /** The size of the literal that follows this line, when it announces one. */
      expecting?: number;
    }
  /** A line over imap-core's maxLineLength: it answers `* BAD Command line too long` and reads on. */
  | { lineTooLong: true; final: true }
  /** The unfinished line imap-core passes on when the client half-closes. */
  | Buffer;

export type LineCallback = (err?: Error) => void;

/** The connection as the guard needs it. */
export interface GuardedConnection {
  session: ImapSession;
  _closing: boolean;
  _closed: boolean;
  send(line: string): void;
  close(): void;
}

/**
 * The input guard of one connection. imap-core accepts any number of literals in one command
 * (each up to maxMessage for APPEND); past `maxCommandLiterals` together the connection gets
 * `* BAD Command too long` and is closed, and what the client still sends is dropped unread.
 * Nothing here emits a stream 'error': the socket is piped into the parser, and an 'error' on it
 * without a listener would end the process.
 */
export class InputGuard {
  private tripped = false;
  /** Bytes of the literals imap-core accepted so far in the current command. */
  private literals = 0;

  constructor(
    private readonly connection: GuardedConnection,
    private readonly maxCommandLiterals: number,
  ) {}

  /** Input is being dropped: the connection was stopped. */
  get discarding(): boolean {
    return this.tripped;
  }

  /** Wraps imap-core's handler of one parsed line (and the literal it announces, if any). */
  command(handle: (line: ParsedLine, callback: LineCallback) => void, line: ParsedLine, callback: LineCallback): void {
    // a line while discarding is dropped; a literal announcement is cancelled, like one that
    // imap-core refused, so that the parser reads no literal bytes for it
    const drop = () => callback(Buffer.isBuffer(line) || line.final ? undefined : new Error('input dropped'));
    // commands still buffered when the connection closes are not run: the session is gone
    // (its account unbound), and a client that left wants no EXPUNGE run on its behalf
    if (this.tripped || this.connection._closing || this.connection._closed) return drop();
    if (Buffer.isBuffer(line) || line.final) {
      this.literals = 0;
      return this.run(() => handle(line, callback));
    }
    const size = line.expecting ?? 0;
    if (this.literals > 0 && this.literals + size > this.maxCommandLiterals) {
      this.stop('* BAD Command too long');
      return drop();
    }
    this.run(() =>
      handle(line, (err) => {
        this.literals = err ? 0 : this.literals + size;
        callback(err);
      }),
    );
  }

  /** The parser, imap-core's command modules and the proxy's handlers, as far as they run at once. */
  private run(step: () => void): void {
    contain(this.connection.session, step);
  }

  /** Sends the last answer and closes the connection; from now on its input is dropped. */
  private stop(answer: string): void {
    this.tripped = true;
    this.connection.send(answer);
    this.connection.close();
  }
}
