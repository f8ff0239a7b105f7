/**
 * The one module that loads WildDuck's imap-core. It has no type declarations: the few parts
 * the proxy uses are declared here. It is CommonJS and its config loader must be switched off
 * before it is loaded (it would read process.argv and ./config/ and may exit the process).
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { lowerBound } from '../model/uid-set.js';

process.env['DISABLE_WILD_CONFIG'] = 'true';
const require = createRequire(import.meta.url);
const CORE = '@zone-eu/wildduck/imap-core';

export interface ImapToken {
  type: string;
  value: string;
  section?: (ImapToken | ImapToken[])[];
  partial?: number[];
}

export interface SelectedState {
  uidList: number[];
  mailbox: string;
  path: string;
  readOnly: boolean;
  condstoreEnabled: boolean;
  modifyIndex: number;
  notifications: unknown[];
}

export interface ImapSession {
  id: string;
  remoteAddress: string;
  user?: { id: string; username: string };
  selected: SelectedState | false;
  writeStream: Writable;
  socket: Socket;
}

export interface FetchQueryItem {
  item: string;
  query: string;
  original: ImapToken;
  path?: string;
  type?: string;
  headers?: string[];
  isLiteral?: boolean;
  partial?: { startFrom: number; maxLength: number };
}

export interface FetchOptions {
  messages: number[];
  query: FetchQueryItem[];
  markAsSeen: boolean;
  changedSince: number;
  isUid: boolean;
  metadataOnly: boolean;
}

export interface SearchOptions {
  query: unknown[];
  terms: string[];
  isUid: boolean;
}

export interface AuthRequest {
  method: string;
  username: string;
  password: string;
}

export type Callback<T = unknown> = (err: Error | null, ...result: T[]) => void;

export interface ImapServerHandlers {
  onAuth(login: AuthRequest, session: ImapSession, callback: Callback): void;
  onList(query: string, session: ImapSession, callback: Callback): void;
  onLsub(query: string, session: ImapSession, callback: Callback): void;
  onStatus(path: string, session: ImapSession, callback: Callback): void;
  onOpen(path: string, session: ImapSession, callback: Callback): void;
  onFetch(mailbox: string, options: FetchOptions, session: ImapSession, callback: Callback): void;
  onSearch(mailbox: string, options: SearchOptions, session: ImapSession, callback: Callback): void;
}

export interface ImapCoreServer extends Partial<ImapServerHandlers> {
  // write commands, typed where their handlers are written
  onStore?: unknown;
  onCopy?: unknown;
  onMove?: unknown;
  onExpunge?: unknown;
  onAppend?: unknown;
  notifier: unknown;
  server: import('node:net').Server;
  connections: Set<{ session: ImapSession; close(force?: boolean): void; send(line: string): void }>;
  listen(port: number, host: string, callback?: () => void): void;
  updateSecureContext(options: { key: string; cert: string }): void;
  close(callback: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

interface ImapCoreModule {
  IMAPServer: new (options: Record<string, unknown>) => ImapCoreServer;
  imapHandler: { compiler(response: unknown, asArray?: boolean, isLogging?: boolean): string };
}

const core = require(`${CORE}/index.js`) as ImapCoreModule;
export const IMAPServer = core.IMAPServer;

interface CommandModule {
  handler(this: { session: ImapSession; send(line: string): void }, command: unknown, callback: Callback, next: unknown): void;
}

/** imap-core's command modules by the name its registry uses, for wrapping their answers. */
export function commandModule(file: string): CommandModule {
  return require(`${CORE}/lib/commands/${file}.js`) as CommandModule;
}

/**
 * imap-core resolves a message range by testing every UID of the folder against the range,
 * re-parsed per UID: 8 ms per `UID FETCH n` at 100,000 messages, and mbsync sends one per
 * message. Same results (ascending UIDs, `*` as the largest, ranges in either order) by
 * binary search over the sorted UID list.
 */
export function getMessageRange(uidList: number[], range: string, isUid: boolean): number[] {
  const total = uidList.length;
  if (total === 0) return [];
  const max = isUid ? (uidList[total - 1] as number) : total;
  const spans: [number, number][] = [];
  for (const part of String(range).split(',')) {
    const [fromText, toText] = part.split(':') as [string, string | undefined];
    const from = fromText === '*' ? max : Number(fromText) || 1;
    const to = toText === undefined ? from : toText === '*' ? max : Number(toText) || from;
    spans.push([Math.min(from, to), Math.max(from, to)]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const result: number[] = [];
  let next = 0; // index into uidList from which the following spans may add
  for (const [lo, hi] of spans) {
    let i = isUid ? lowerBound(uidList, lo) : lo - 1;
    i = Math.max(i, next);
    for (; i < total; i++) {
      const value = isUid ? (uidList[i] as number) : i + 1;
      if (value > hi) break;
      result.push(uidList[i] as number);
    }
    next = Math.max(next, i);
  }
  return result;
}

const imapTools = require(`${CORE}/lib/imap-tools.js`) as { getMessageRange: typeof getMessageRange };
imapTools.getMessageRange = getMessageRange;

export const imapHandler = core.imapHandler;

/**
 * imap-core's connection and input parser, as far as the patches below use them. Only this
 * module touches them; the rest of the proxy sees sessions.
 */
type StreamCommand =
  | {
      value: string;
      final: boolean;
      /** The size of the literal that follows this line, when it announces one. */
      expecting?: number;
    }
  /** A line over imap-core's maxLineLength: it answers `* BAD Command line too long` and reads on. */
  | { lineTooLong: true; final: true };
type StreamCallback = (err?: Error) => void;

interface CoreStream {
  oncommand(command: StreamCommand | Buffer, callback?: StreamCallback): void;
  _write(chunk: Buffer, encoding: BufferEncoding, done: () => void): void;
}

interface CoreConnection {
  session: ImapSession;
  _server: ImapCoreServer;
  _parser: CoreStream | false;
  _closing: boolean;
  _closed: boolean;
  send(line: string): void;
  close(force?: boolean): void;
}

interface CoreConnectionClass {
  prototype: CoreConnection & { _startSession(): void; _setListeners(): void };
}

const { IMAPConnection } = require(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
const { IMAPStream } = require(`${CORE}/lib/imap-stream.js`) as { IMAPStream: { prototype: CoreStream } };

/** Every live connection by its session, so that the proxy can close one it only knows the session of. */
const connections = new WeakMap<ImapSession, CoreConnection>();

const startSession = IMAPConnection.prototype._startSession;
IMAPConnection.prototype._startSession = function (this: CoreConnection & { _startSession(): void }) {
  startSession.call(this);
  connections.set(this.session, this);
};

/** Sends `* BYE <message>` and closes the connection (its socket ends after what was sent). */
export function disconnect(session: ImapSession, message: string): void {
  const connection = connections.get(session);
  if (!connection || connection._closing || connection._closed) return;
  connection.send(`* BYE ${message}`);
  connection.close();
}

/**
 * Runs imap-core code for one connection: a command as it is parsed, or the callback that
 * answers it. imap-core catches no exception, so one that escaped would end the process; it
 * ends that connection instead, and is logged.
 */
export function contain(session: ImapSession, log: Logger, step: () => void): void {
  try {
    step();
  } catch (err) {
    log.error({ err, session: session.id }, 'exception while answering a command: connection closed');
    disconnect(session, 'Internal error in the proxy');
  }
}

/**
 * imap-core's `onConnect` option from a check that returns why a new connection is refused (sent
 * as `* BYE <reason>` before imap-core closes it), or nothing to accept it.
 */
export function connectCheck(refusal: (session: ImapSession) => string | undefined) {
  return (session: ImapSession, callback: (err?: Error) => void): void => {
    const reason = refusal(session);
    if (reason === undefined) return callback();
    // imap-core sets its socket listeners only on accepted connections: a reset of a refused
    // one would otherwise be an 'error' event without a listener, which ends the process
    session.socket.on('error', () => undefined);
    callback(new Error(reason));
  };
}

interface ErrorReports {
  setGelf(handler: { emit(channel: string, message: Record<string, unknown>): void }): void;
}
const errorReports = require('@zone-eu/wildduck/lib/errors.js') as ErrorReports;

/**
 * imap-core reports protocol errors and exceptions through WildDuck's GELF helper, which without
 * a GELF server prints them to stderr, the client's command line included (a LOGIN that fails to
 * parse shows its password). They go to `report` instead: one handler for the whole process.
 */
export function reportErrorsTo(report: (message: Record<string, unknown>) => void): void {
  errorReports.setGelf({ emit: (_channel, message) => report(message) });
}

/** Bounds on what a client may send, per server, beyond imap-core's own line limit (maxLineLength). */
export interface InputLimits {
  /** All literals of one command together; the first one is imap-core's to refuse (maxMessage). */
  maxCommandLiterals: number;
}

const inputLimits = new WeakMap<ImapCoreServer, InputLimits & { log: Logger }>();

/**
 * Applies `limits` to every connection `server` accepts from now on; a command that throws is
 * logged to `log` and closes its connection.
 */
export function limitInput(server: ImapCoreServer, limits: InputLimits, log: Logger): void {
  inputLimits.set(server, { ...limits, log });
}

/**
 * The input guard of one connection. imap-core accepts any number of literals in one command
 * (each up to maxMessage for APPEND); past the limit the connection gets `* BAD <reason>` and is
 * closed, and what the client still sends is dropped unread. Nothing here emits a stream
 * 'error': the socket is piped into the parser, and an 'error' on it without a listener would
 * end the process.
 */
class InputGuard {
  private tripped = false;
  /** Bytes of the literals imap-core accepted so far in the current command. */
  private literals = 0;

  constructor(
    private readonly connection: CoreConnection,
    private readonly limits: InputLimits & { log: Logger },
  ) {}

  get discarding(): boolean {
    return this.tripped;
  }

  /** Wraps imap-core's handler of one parsed line (and the literal it announces, if any). */
  command(handle: CoreStream['oncommand'], command: StreamCommand | Buffer, callback: StreamCallback): void {
    // a line while discarding is dropped; a literal announcement is cancelled, like one that
    // imap-core refused, so that the parser reads no literal bytes for it
    const drop = () => callback(Buffer.isBuffer(command) || command.final ? undefined : new Error('input dropped'));
    // commands still buffered when the connection closes are not run: the session is gone
    // (its account unbound), and a client that left wants no EXPUNGE run on its behalf
    if (this.tripped || this.connection._closing || this.connection._closed) return drop();
    // (a Buffer: the unfinished line that imap-core passes on when the client half-closes)
    if (Buffer.isBuffer(command) || command.final) {
      this.literals = 0;
      return this.run(() => handle(command, callback));
    }
    const size = command.expecting ?? 0;
    if (this.literals > 0 && this.literals + size > this.limits.maxCommandLiterals) {
      this.stop('* BAD Command too long');
      return drop();
    }
    this.run(() =>
      handle(command, (err) => {
        this.literals = err ? 0 : this.literals + size;
        callback(err);
      }),
    );
  }

  /** The parser, imap-core's command modules and the proxy's handlers, as far as they run at once. */
  private run(step: () => void): void {
    contain(this.connection.session, this.limits.log, step);
  }

  /** Sends the last answer and closes the connection; from now on its input is dropped. */
  private stop(answer: string): void {
    this.tripped = true;
    this.connection.send(answer);
    this.connection.close();
  }
}

const guards = new WeakMap<CoreStream, InputGuard>();

// imap-core pipes the socket into the parser here (once per connection, after onConnect
// accepted it): the moment the parser gets its guard, with the limits of its server
const setListeners = IMAPConnection.prototype._setListeners;
IMAPConnection.prototype._setListeners = function (this: CoreConnection & { _setListeners(): void }) {
  const limits = inputLimits.get(this._server);
  const parser = this._parser;
  if (limits && parser) {
    const guard = new InputGuard(this, limits);
    guards.set(parser, guard);
    const handle = parser.oncommand.bind(parser);
    parser.oncommand = (command, callback = () => undefined) => guard.command(handle, command, callback);
  }
  setListeners.call(this);
};

const write = IMAPStream.prototype._write;
IMAPStream.prototype._write = function (this: CoreStream, chunk, encoding, done) {
  if (guards.get(this)?.discarding) return done();
  write.call(this, chunk, encoding, done);
};
