import { PassThrough } from 'node:stream';
import type { ImapSession } from './imap-core.js';
import { contain } from './session-state.js';

/** A command line (up to a literal, or to the command's end) as imap-core's parser hands it on. */
export interface CommandLine {
  value: string;
  final: boolean;
  /** The size of the literal that follows this line, when it announces one. */
  expecting?: number;
  /** Where the literal's bytes go, and what imap-core calls once it has them all. */
  literal?: PassThrough;
  readyCallback?: () => void;
  /** The literal comes without a continuation request (LITERAL+): its bytes arrive even if it is refused. */
  nonSynchronizing?: boolean;
}

/** One line of input as imap-core's parser hands it on. */
export type ParsedLine =
  | CommandLine
  /** A line over imap-core's maxLineLength: it answers `* BAD Command line too long` and reads on. */
  | { lineTooLong: true; final: true }
  /** The unfinished line imap-core passes on when the client half-closes. */
  | Buffer;

export type LineCallback = (err?: Error) => void;

/** imap-core's line parser (IMAPStream), as a literal is set up in it. */
export interface LineParser {
  _expecting: number;
  _literal: PassThrough | false;
  _literalReady: boolean | (() => void);
}

/** The first line of an APPEND. */
const APPEND_COMMAND = /^\S+ APPEND /i;

/** A line that ends with a non-synchronizing literal (RFC 7888): `{n+}`. */
const NON_SYNC_LITERAL = /\{(\d+)\+\}$/;

/** Told when a command starts to arrive and when it was answered (NOTIFY writes between commands). */
export interface CommandActivity {
  started(): void;
  ended(): void;
}

const UNWATCHED: CommandActivity = { started: () => undefined, ended: () => undefined };

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
 * (APPEND's are streamed, and not counted); past `maxCommandLiterals` together the connection gets
 * `* BAD Command too long` and is closed, and what the client still sends is dropped unread.
 * Nothing here emits a stream 'error': the socket is piped into the parser, and an 'error' on it
 * without a listener would end the process.
 */
export class InputGuard {
  private tripped = false;
  /** Bytes of the literals imap-core accepted so far in the current command. */
  private literals = 0;
  /** A non-synchronizing literal is being announced to imap-core: it must not ask for it. */
  private quietLiteral = false;
  /** The next line starts a command. */
  private commandStart = true;
  /** The current command is an APPEND: its message literals are streamed, not held (append-intake.ts). */
  private streamed = false;

  constructor(
    private readonly connection: GuardedConnection,
    private readonly parser: LineParser,
    private readonly maxCommandLiterals: number,
    /** Commands the proxy answers itself, of one line, that imap-core does not know: their tagged answer, or undefined. */
    private readonly ownCommand: (line: string) => string | undefined = () => undefined,
    /** A command's first line as imap-core is to see it (`$` of SEARCHRES replaced). */
    private readonly rewrite: (line: string) => string = (line) => line,
    private readonly activity: CommandActivity = UNWATCHED,
  ) {}

  /** imap-core is about to send a continuation request: false where the client sends without one (LITERAL+). */
  continuationWanted(): boolean {
    return !this.quietLiteral;
  }

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
    const nonSync = !Buffer.isBuffer(line) && 'value' in line && line.final ? NON_SYNC_LITERAL.exec(line.value) : null;
    if (nonSync) return this.nonSyncLiteral(handle, line as { value: string }, Number(nonSync[1]), nonSync.index, callback);
    if (!Buffer.isBuffer(line) && 'value' in line) this.activity.started();
    if (this.commandStart && !Buffer.isBuffer(line) && 'value' in line) {
      this.streamed = APPEND_COMMAND.test(line.value);
      line.value = this.rewrite(line.value);
    }
    if (this.commandStart && !Buffer.isBuffer(line) && 'value' in line && line.final) {
      const answer = this.ownCommand(line.value);
      if (answer !== undefined) {
        this.run(() => this.connection.send(answer));
        this.activity.ended();
        return callback();
      }
    }
    if (Buffer.isBuffer(line) || line.final) {
      this.literals = 0;
      this.commandStart = true;
      return this.run(() =>
        handle(line, (err) => {
          callback(err);
          this.run(() => this.activity.ended());
        }),
      );
    }
    this.commandStart = false;
    const size = this.streamed ? 0 : (line.expecting ?? 0);
    if (this.literals > 0 && this.literals + size > this.maxCommandLiterals) {
      this.stop('* BAD Command too long');
      return drop();
    }
    this.run(() =>
      handle(line, (err) => {
        this.literals = err ? 0 : this.literals + size;
        callback(err);
        if (err) this.activity.ended();
      }),
    );
  }

  /**
   * LITERAL+ (RFC 7888): imap-core's parser knows only `{n}`, and would read the literal's bytes
   * as command lines. The line is handed on as announcing the literal (and the parser set to read
   * it, as it does for `{n}`); imap-core's continuation request is not sent, the client did not
   * wait for one. A literal imap-core refuses (too large) was sent all the same: its bytes cannot
   * be told from commands, so the connection ends after the refusal (RFC 7888 4).
   */
  private nonSyncLiteral(handle: (line: ParsedLine, callback: LineCallback) => void, line: { value: string }, size: number, at: number, callback: LineCallback): void {
    const parser = this.parser;
    const literal = new PassThrough();
    parser._expecting = size;
    parser._literal = literal;
    const announced: ParsedLine = {
      value: `${line.value.slice(0, at)}{${size}}`,
      final: false,
      expecting: size,
      literal,
      nonSynchronizing: true,
      // what imap-core's parser gives a literal: the next line is read once imap-core has this one
      readyCallback: () => {
        const next = parser._literalReady;
        if (typeof next === 'function') {
          parser._literalReady = false;
          next();
        } else {
          parser._literalReady = true;
        }
      },
    };
    this.quietLiteral = true;
    try {
      this.command(handle, announced, (err) => {
        if (err && !this.tripped) {
          parser._expecting = 0;
          parser._literal = false;
          parser._literalReady = false;
          this.stop('* BYE The literal was refused and cannot be skipped');
        }
        callback(err);
      });
    } finally {
      this.quietLiteral = false;
    }
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
