/**
 * Every change the proxy makes to imap-core (from @zone-eu/wildduck 1.51.1), in one place and
 * applied once per process, however many servers start: each entry says what it changes and why.
 * imap-core looks its command modules, tools and prototypes up at call time, so replacing a
 * function there takes effect without a fork. This is the only module that reaches into
 * imap-core's internals; the rest of the proxy sees sessions, handlers and SessionState.
 */
import type { Logger } from '../log.js';
import { MAX_LIST_PATTERN } from '../model/limits.js';
import { CORE, requireCore, type Callback, type ImapSession, type ImapToken } from './imap-core.js';
import { InputGuard, type GuardedConnection, type LineCallback, type ParsedLine } from './input-guard.js';
import { getMessageRange } from './message-range.js';
import { attachState, SessionState, stateOf } from './session-state.js';

/** Server options the patches read off imap-core's server (which keeps every option it is given). */
export interface PatchedServerOptions {
  /** All literals of one command together (the input guard). */
  maxCommandLiterals: number;
  /** The proxy's log of that server: exceptions contained in its sessions go there. */
  proxyLog: Logger;
}

interface CommandContext {
  session: ImapSession;
  send(line: string): void;
}
interface CommandModule {
  handler(this: CommandContext, command: { attributes?: Argument[] }, callback: Callback, next: unknown): void;
}
type Argument = ImapToken | ImapToken[] | undefined;
type Answer = { response: 'OK' | 'BAD'; message: string };

interface CoreConnection extends GuardedConnection {
  _server: { options: Partial<PatchedServerOptions> };
  _parser: { oncommand(line: ParsedLine, callback?: LineCallback): void } | false;
}
interface CoreConnectionClass {
  prototype: CoreConnection & { _startSession(): void; _setListeners(): void };
}
interface CoreStreamClass {
  prototype: { _write(chunk: Buffer, encoding: BufferEncoding, done: () => void): void };
}

const commandModule = (file: string) => requireCore(`${CORE}/lib/commands/${file}.js`) as CommandModule;

/** Wraps a command module's handler: `before` may answer the command itself, or let imap-core have it. */
function wrapCommand(file: string, before: (context: CommandContext, command: { attributes?: Argument[] }, callback: Callback) => boolean): void {
  const mod = commandModule(file);
  const original = mod.handler;
  mod.handler = function (command, callback, next) {
    if (before(this, command, callback)) return;
    original.call(this, command, callback, next);
  };
}

/** The value of a plain argument (atom, string, literal); undefined for a list or NIL. */
const plainValue = (arg: Argument) => (Array.isArray(arg) || arg?.value === undefined || arg.value === null ? undefined : String(arg.value));
const patternTooLong = (args: Argument[]) => args.reduce((sum, arg) => sum + (plainValue(arg)?.length ?? 0), 0) > MAX_LIST_PATTERN;
const PATTERN_TOO_LONG: Answer = { response: 'BAD', message: 'Mailbox name pattern too long' };

/**
 * Inputs on which imap-core's command modules throw (checked against 1.51.1; each has a test in
 * test/e2e/imap-core-fixes.test.ts): answered before imap-core sees them.
 */
const PRE_CHECKS: Record<string, (args: Argument[]) => Answer | undefined> = {
  // it turns the pattern into a regular expression, and V8 refuses one that large
  list: (args) => (patternTooLong(args) ? PATTERN_TOO_LONG : undefined),
  // ... and for an empty mailbox name it hands its listing code one entry where it expects a
  // list; there is nothing to list (Dovecot answers a plain OK too)
  lsub: (args) => (patternTooLong(args) ? PATTERN_TOO_LONG : !plainValue(args[1]) ? { response: 'OK', message: 'LSUB completed' } : undefined),
  // it reads the capabilities without checking that there are any
  enable: (args) => (args.length === 0 ? { response: 'BAD', message: 'ENABLE needs at least one capability' } : undefined),
  // it takes the first argument's value as the mailbox name, whatever the argument
  append: (args) => (plainValue(args[0]) === undefined ? { response: 'BAD', message: 'APPEND needs a mailbox name first' } : undefined),
};

/** Commands whose answers come from the proxy's handlers (SessionState.answer). */
const ANSWERED_BY_HANDLERS = [
  'select', 'status', 'list', 'lsub', 'fetch', 'search', 'store', 'uid-store', 'copy', 'move', 'expunge', 'uid-expunge',
  'append', 'create', 'delete', 'rename', 'subscribe', 'unsubscribe',
];

interface ErrorReports {
  setGelf(handler: { emit(channel: string, message: Record<string, unknown>): void }): void;
}

const PATCHES: { what: string; why: string; apply(reportErrors: (report: Record<string, unknown>) => void): void }[] = [
  {
    what: 'imap-tools getMessageRange: a binary search',
    why: 'imap-core scans the whole UID list per command; see message-range.ts',
    apply: () => {
      (requireCore(`${CORE}/lib/imap-tools.js`) as { getMessageRange: unknown }).getMessageRange = getMessageRange;
    },
  },
  {
    what: 'IMAPConnection._startSession: every session gets its SessionState',
    why: "the proxy's per-session state (account, answer, search arguments) and a way to close a connection knowing only its session",
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const startSession = IMAPConnection.prototype._startSession;
      IMAPConnection.prototype._startSession = function (this: CoreConnection & { _startSession(): void }) {
        startSession.call(this);
        const disconnect = (message: string) => {
          if (this._closing || this._closed) return;
          this.send(`* BYE ${message}`);
          this.close();
        };
        const log = this._server.options.proxyLog;
        if (log) attachState(this.session, new SessionState(disconnect, log));
      };
    },
  },
  {
    what: 'IMAPConnection._setListeners and IMAPStream._write: an input guard per connection',
    why: 'imap-core bounds a line (maxLineLength) but not the literals of one command; and it catches no exception of its own or of a handler (see input-guard.ts)',
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const { IMAPStream } = requireCore(`${CORE}/lib/imap-stream.js`) as { IMAPStream: CoreStreamClass };
      const guards = new WeakMap<object, InputGuard>();
      // imap-core pipes the socket into the parser here, once per connection it accepted
      const setListeners = IMAPConnection.prototype._setListeners;
      IMAPConnection.prototype._setListeners = function (this: CoreConnection & { _setListeners(): void }) {
        const limit = this._server.options.maxCommandLiterals;
        const parser = this._parser;
        if (limit !== undefined && parser) {
          const guard = new InputGuard(this, limit);
          guards.set(parser, guard);
          const handle = parser.oncommand.bind(parser);
          parser.oncommand = (line, callback = () => undefined) => guard.command(handle, line, callback);
        }
        setListeners.call(this);
      };
      const write = IMAPStream.prototype._write;
      IMAPStream.prototype._write = function (chunk, encoding, done) {
        if (guards.get(this)?.discarding) return done();
        write.call(this, chunk, encoding, done);
      };
    },
  },
  {
    what: 'commands list, lsub, enable, append: inputs they throw on are answered first',
    why: 'an uncaught TypeError or a V8 regular-expression error there closed the connection (PRE_CHECKS above)',
    apply: () => {
      for (const [file, check] of Object.entries(PRE_CHECKS)) {
        wrapCommand(file, (_context, command, callback) => {
          const answer = check(command.attributes ?? []);
          if (answer) callback(null, answer);
          return answer !== undefined;
        });
      }
    },
  },
  {
    what: 'command search: its arguments kept as the client wrote them',
    why: 'imap-core flattens the parsed query, losing parenthesised groups; the proxy sends the criteria upstream as they were (search-query.ts)',
    apply: () =>
      wrapCommand('search', (context, command) => {
        stateOf(context.session).searchArguments = (command.attributes ?? []) as ImapToken[];
        return false;
      }),
  },
  {
    what: `commands ${ANSWERED_BY_HANDLERS.join(', ')}: the tagged answer a handler chose`,
    why: 'imap-core turns a handler error into a fixed "NO [TEMPFAIL]" and composes COPYUID/APPENDUID from values a handler may not have',
    apply: () => {
      for (const file of ANSWERED_BY_HANDLERS) {
        const mod = commandModule(file);
        const original = mod.handler;
        mod.handler = function (command, callback, next) {
          const state = stateOf(this.session);
          state.answer = undefined;
          original.call(
            this,
            command,
            (err, ...result) => {
              const answer = state.answer;
              state.answer = undefined;
              if (answer) return callback(null, { response: answer.response, code: answer.code, message: answer.message });
              callback(err, ...result);
            },
            next,
          );
        };
      }
    },
  },
  {
    what: "lib/errors.js (WildDuck's GELF helper): reports go to the proxy's log",
    why: 'without a GELF server it prints them to stderr, the client command line included (a LOGIN that fails to parse shows its password); log.ts keeps only the error',
    apply: (reportErrors) => {
      (requireCore('@zone-eu/wildduck/lib/errors.js') as ErrorReports).setGelf({ emit: (_channel, message) => reportErrors(message) });
    },
  },
];

let applied = false;

/**
 * Applies every patch, once per process; `reportErrors` receives imap-core's error reports (the
 * first caller's: they are process-wide).
 */
export function applyCorePatches(reportErrors: (report: Record<string, unknown>) => void): void {
  if (applied) return;
  applied = true;
  for (const patch of PATCHES) patch.apply(reportErrors);
}
