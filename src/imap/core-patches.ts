/**
 * Every change the proxy makes to imap-core (from @zone-eu/wildduck 1.51.1), in one place and
 * applied once per process, however many servers start: each entry says what it changes and why.
 * imap-core looks its command modules, tools and prototypes up at call time, so replacing a
 * function there takes effect without a fork. This module, and the commands it replaces whole
 * (select-command.ts, list-command.ts), are the only ones that reach into imap-core's internals;
 * the rest of the proxy sees sessions, handlers and SessionState.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import { MAX_LIST_PATTERN, MIN_MAX_MESSAGE_SIZE } from '../model/limits.js';
import type { AppendingMessage } from '../sync/writes.js';
import { indexOfUid } from '../model/uid-set.js';
import { AppendIntake, type AppendTarget } from './append-intake.js';
import { AppendSpool } from './append-spool.js';
import { capabilityList } from './capabilities.js';
import { esearchLine, searchNumbers, takeSearchReturn } from './esearch.js';
import { liftBinarySize, normalizeCommand } from './command-syntax.js';
import { argumentText, CORE, plainValue, requireCore, type Callback, type CommandArgument, type ImapServerHandlers, type ImapSession, type ImapToken } from './imap-core.js';
import { answerFor } from './responses.js';
import { InputGuard, type CommandLine, type GuardedConnection, type LineCallback, type LineParser, type ParsedLine } from './input-guard.js';
import { lsubListing } from './lsub-listing.js';
import { flushLines, queueLine, resumeLiteral, streamLiteral, type OutputStream } from './response-output.js';
import { saveResult, substituteSaved } from './saved-search.js';
import { rewriteSortCommand } from './sort-command.js';
import { parseNotify } from './notify-command.js';
import { runNotify, type NotifyOutput } from './notify-session.js';
import { parseMailboxId } from './mailbox-id.js';
import { getMessageRange } from './message-range.js';
import { makeFetchHandler, type FetchTools } from './fetch-command.js';
import { makeListHandler } from './list-command.js';
import { makeSelectHandler } from './select-command.js';
import { requestedUids, type ResyncRequest } from './qresync.js';
import { attachState, contain, loggedInAccount, ownUidList, SessionState, stateOf } from './session-state.js';
import { keywordAnnouncement } from './untagged.js';
import { cancelUpdate, type ContextSearch, keepUpdated, refreshContextSearches, removedBeforeExpunge } from './search-context.js';

/** Server options the patches read off imap-core's server (which keeps every option it is given). */
export interface PatchedServerOptions {
  /** All literals of one command together (the input guard). */
  maxCommandLiterals: number;
  /** The proxy's log of that server: exceptions contained in its sessions go there. */
  proxyLog: Logger;
  /** NOOP and CHECK: brings the session's selected mailbox up to date first (its changes are then sent). */
  refreshSelected(session: ImapSession): Promise<void>;
  /** New messages a session was told of: returns those that are \Recent in it. */
  claimArrivals(session: ImapSession, uids: number[]): number[];
  /** An APPEND into the folder `path` of a logged-in session, once the client sent it whole (append-intake.ts). */
  appendMessages(session: ImapSession, path: string, messages: AppendingMessage[]): Promise<unknown>;
  /** Where the messages of an APPEND wait for the command's end (append-spool.ts). */
  spoolDir: string;
  /** The bytes a CATENATE URL names (RFC 4469). */
  openCatenateUrl(session: ImapSession, url: string): Promise<{ size: number; body: Readable }>;
  /** Whether a folder exists (CATENATE answers TRYCREATE before reading its URLs). */
  folderExists(session: ImapSession, path: string): Promise<boolean>;
  /** Finds a result kept UPDATEd again over the selected mailbox (search-context.ts): UIDs ascending, or in its sort order. */
  searchSelected(session: ImapSession, search: ContextSearch): Promise<number[]>;
  /** SELECT with QRESYNC: what changed since the client was last there (handlers/on-resync.ts). */
  resyncSelected(session: ImapSession, request: ResyncRequest): Promise<void>;
}

interface CommandContext {
  session: ImapSession;
  send(line: string): void;
}
interface CommandModule {
  disableNotifications?: boolean;
  handler(this: CommandContext, command: { attributes?: CommandArgument[] }, callback: Callback, next: unknown): void;
}
type Answer = { response: 'OK' | 'BAD'; message: string };

interface CoreTools {
  sendCapabilityResponse(connection: CoreConnection): void;
  normalizeMailbox(path: string, utf7?: boolean): string;
  utf7encode(path: string): string;
  filterFolders(folders: { path: string }[], query: string): { path: string }[];
}

interface CoreConnection extends GuardedConnection {
  state: string;
  secure: boolean;
  send(payload: string, callback?: () => void): void;
  remoteAddress: string;
  clientHostname: string;
  _server: {
    options: Partial<PatchedServerOptions> & { id?: { name?: string }; disableSTARTTLS?: boolean; ignoreSTARTTLS?: boolean; enableCompression?: boolean; maxMessage?: number };
    onLsub(query: string, session: ImapSession, callback: (err: Error | null, list?: { path: string }[]) => void): void;
    onSubscribe(path: string, session: ImapSession, callback: (err: Error | null) => void): void;
    onUnsubscribe(path: string, session: ImapSession, callback: (err: Error | null) => void): void;
  };
  acceptUTF8Enabled: boolean;
  _parser: (LineParser & { oncommand(line: ParsedLine, callback?: LineCallback): void }) | false;
}
interface CoreConnectionClass {
  prototype: CoreConnection & {
    _startSession(): void;
    _setListeners(): void;
    formatResponse(command: string, uid: number, data?: { flags?: unknown; uid?: number }): unknown;
    emitNotifications(): void;
    init(): void;
    send(payload: string, callback?: () => void): void;
    close(force?: boolean): void;
  };
}
/** imap-core's output stream of a connection (a Transform piped into its socket, or into its deflate stream). */
type CoreComposer = OutputStream;
interface CoreComposerClass {
  prototype: CoreComposer & {
    _transform(item: unknown, encoding: BufferEncoding, done: (err?: Error) => void): void;
    _flush(done: (err?: Error) => void): void;
    _read(size: number): void;
  };
}
interface CoreCommandClass {
  prototype: {
    connection: CoreConnection & { _nextHandler?: unknown };
    first: boolean;
    tag?: string;
    command?: string;
    append(line: CommandLine, callback: LineCallback): void;
    sendNotifications(handler: { disableNotifications?: boolean }, callback: () => void): void;
  };
}

/**
 * A command's first line, as imap-core is to see it: a SORT or THREAD becomes a SEARCH, and what
 * it asks is kept for the search handler; any other command clears what an earlier one left.
 */
function takeSortCommand(session: ImapSession, line: string): string {
  const state = stateOf(session);
  const rewritten = rewriteSortCommand(line);
  state.sortRequest = rewritten.request;
  state.sortAnswer = undefined;
  return rewritten.line;
}

/** `tag NOTIFY ...`: imap-core knows no NOTIFY (RFC 5465). */
const NOTIFY_LINE = /^(\S+) NOTIFY(?= |$)/i;

/**
 * A command's first line, as imap-core is to see it: a NOTIFY becomes a NOOP, its arguments
 * parsed here (imap-core's parser, as for any command) and kept for the NOOP handler.
 */
function takeNotifyCommand(session: ImapSession, line: string): string {
  const state = stateOf(session);
  const notify = NOTIFY_LINE.exec(line);
  if (!notify) {
    state.notifyRequest = undefined;
    return line;
  }
  const { parser } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { parser(input: string): { attributes?: CommandArgument[] } };
  try {
    state.notifyRequest = parseNotify(parser(line).attributes ?? []);
  } catch {
    // a literal in it (the line ends before the command does), or what does not parse
    state.notifyRequest = { kind: 'refused', response: 'BAD', message: 'Invalid NOTIFY arguments' };
  }
  return `${notify[1]} NOOP`;
}

/** What a NOTIFY session needs of its connection: when it may write, its selected mailbox, how names are written. */
function notifyOutput(connection: CoreConnection & { condstoreEnabled?: boolean; emitNotifications(): void }): NotifyOutput {
  const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
  const { compiler } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown): string };
  const session = connection.session;
  const state = stateOf(session);
  const name = (path: string) => (connection.acceptUTF8Enabled ? Buffer.from(path) : tools.utf7encode(path));
  const atom = (value: string | number) => ({ type: 'atom', value: String(value) });
  return {
    write: (line) => connection.send(line),
    quiet: () => !state.commandRunning && !connection._closing && !connection._closed,
    backedUp: (resume) => {
      if (!session.writeStream.writableNeedDrain) return false;
      session.writeStream.once('drain', () => contain(session, resume));
      return true;
    },
    selected: () => (session.selected ? parseMailboxId(session.selected.mailbox).path : undefined),
    flushSelected: (withExpunges) => {
      const queue = (session.selected ? session.selected.notifications : []) as { command?: string }[];
      if (queue.length && (withExpunges || !queue.some((update) => update.command === 'EXPUNGE'))) connection.emitNotifications();
    },
    condstore: () => !!connection.condstoreEnabled || state.qresync,
    folderPath: (mailbox) => tools.normalizeMailbox(mailbox, !connection.acceptUTF8Enabled),
    statusLine: (path, items) => compiler({ tag: '*', command: 'STATUS', attributes: [name(path), items.flatMap(([item, value]) => [atom(item), atom(value)])] }),
    listLine: (flags, path, oldPath) =>
      compiler({
        tag: '*',
        command: 'LIST',
        attributes: [flags.map(atom), '/', name(path), ...(oldPath === undefined ? [] : [[{ type: 'string', value: 'OLDNAME' }, [name(oldPath)]]])],
      }),
  };
}

/** Commands after which the searches kept UPDATEd are not run again: they change nothing. */
const NO_CONTEXT_REFRESH = new Set(['FETCH', 'UID FETCH', 'SEARCH', 'UID SEARCH']);
interface CoreStreamClass {
  prototype: { _write(chunk: Buffer, encoding: BufferEncoding, done: () => void): void };
}

function capabilitiesOf(connection: CoreConnection): string {
  const options = connection._server.options;
  return capabilityList({
    authenticated: connection.state !== 'Not Authenticated',
    secure: connection.secure,
    startTls: !options.disableSTARTTLS,
    loginDisabled: !options.ignoreSTARTTLS,
    compress: !!options.enableCompression,
    ...(options.maxMessage ? { appendLimit: options.maxMessage } : {}),
    ...(connection.session ? { upstream: loggedInAccount(connection.session)?.upstreamCapabilities } : {}),
  }).join(' ');
}

/** imap-core's continuation request for a literal. */
const CONTINUATION = '+ Go ahead';

const commandModule = (file: string) => requireCore(`${CORE}/lib/commands/${file}.js`) as CommandModule;

/** The first line of an APPEND: `tag APPEND`. */
const APPEND_LINE = /^\S+ APPEND(?= |$)/i;
/** The literal a line ends with, as the parser left its announcement (LITERAL+ already made `{n}`). */
const LITERAL_MARK = /(~?)\{\d+\}$/;

/** What an APPEND needs of its connection. */
function appendTarget(connection: CoreConnection): AppendTarget {
  const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
  const options = connection._server.options;
  const { appendMessages, spoolDir, openCatenateUrl, folderExists } = options;
  if (!appendMessages || !spoolDir || !openCatenateUrl || !folderExists) throw new Error("an imap-core server without the proxy's APPEND options");
  return {
    normalize: (mailbox) => tools.normalizeMailbox(mailbox, !connection.acceptUTF8Enabled),
    // imap-core checks the state (logged in) before the command module runs this
    append: (path, messages) => appendMessages(connection.session, path, messages),
    openUrl: (url) => openCatenateUrl(connection.session, url),
    exists: (path) => folderExists(connection.session, path),
    spool: new AppendSpool(spoolDir),
    largest: Math.max(options.maxMessage ?? 0, MIN_MAX_MESSAGE_SIZE),
    // nothing is written to disk for a client that did not log in
    ...(connection.state === 'Not Authenticated' ? { refused: new ProxyError('CLIENT_BAD', 'APPEND not allowed now', { clientText: 'APPEND not allowed now' }) } : {}),
  };
}

/**
 * One line of an APPEND to its intake: a literal is asked for (imap-core's continuation request)
 * and the parser reads on once the intake took it whole; a refused literal is answered at once.
 */
function takeLine(tag: string, connection: CoreConnection, intake: AppendIntake, line: CommandLine, text: string, callback: LineCallback): void {
  const mark = line.literal ? LITERAL_MARK.exec(text) : null;
  const literal = line.literal && mark ? { size: line.expecting ?? 0, literal8: mark[1] === '~', body: line.literal } : undefined;
  const step = intake.line(mark ? text.slice(0, mark.index) : text, literal);
  if ('refused' in step && literal && line.nonSynchronizing && step.refused.clientCode !== 'TOOBIG') {
    // its bytes come anyway: read and dropped, and the command answered at its end
    literal.body.resume();
    if (literal.size === 0) line.literal?.end();
    else void finished(literal.body).then(() => contain(connection.session, () => line.readyCallback?.()), () => undefined);
    return callback();
  }
  if ('refused' in step) {
    void intake.end().catch(() => undefined).then(() =>
      contain(connection.session, () => {
        const answer = answerFor(step.refused);
        connection.send(`${tag} ${answer.response}${answer.code ? ` [${answer.code}]` : ''} ${answer.message}`);
        callback(step.refused);
      }),
    );
    return;
  }
  if (literal) {
    connection.send(CONTINUATION);
    // an empty literal: the parser reads no bytes for it, and waits for nothing
    if (literal.size === 0) line.literal?.end();
    else void step.taken.then(() => contain(connection.session, () => line.readyCallback?.()));
  }
  callback();
}

/** Wraps a command module's handler: `before` may answer the command itself, or let imap-core have it. */
function wrapCommand(file: string, before: (context: CommandContext, command: { attributes?: CommandArgument[] }, callback: Callback) => boolean): void {
  const mod = commandModule(file);
  const original = mod.handler;
  mod.handler = function (command, callback, next) {
    if (before(this, command, callback)) return;
    original.call(this, command, callback, next);
  };
}

/** The value of a plain argument (atom, string, literal); undefined for a list or NIL. */
const patternTooLong = (args: CommandArgument[]) => args.reduce((sum, arg) => sum + (plainValue(arg)?.length ?? 0), 0) > MAX_LIST_PATTERN;
const PATTERN_TOO_LONG: Answer = { response: 'BAD', message: 'Mailbox name pattern too long' };

/**
 * Inputs on which imap-core's command modules throw (checked against 1.51.1; each has a test in
 * test/e2e/imap-core-fixes.test.ts): answered before imap-core sees them.
 */
const PRE_CHECKS: Record<string, (args: CommandArgument[]) => Answer | undefined> = {
  // ... and for an empty mailbox name it hands its listing code one entry where it expects a
  // list; there is nothing to list (Dovecot answers a plain OK too)
  lsub: (args) => (patternTooLong(args) ? PATTERN_TOO_LONG : !plainValue(args[1]) ? { response: 'OK', message: 'LSUB completed' } : undefined),
  // it reads the capabilities without checking that there are any
  enable: (args) => (args.length === 0 ? { response: 'BAD', message: 'ENABLE needs at least one capability' } : undefined),
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
    what: 'handler/imap-handler parser: valid sequence sets and LIST patterns it refuses are rewritten first; BINARY.SIZE items given their section',
    why: 'it answers BAD to `FETCH 1,*`, `*,1`, `SEARCH *:3` and to wildcards inside an atom (`LIST "" INBOX/%`), and takes `BINARY.SIZE[1]` for one atom; see command-syntax.ts',
    apply: () => {
      const handler = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { parser(input: string, options?: unknown): unknown };
      const parse = handler.parser;
      handler.parser = (input, options) => liftBinarySize(parse(normalizeCommand(String(input)), options) as { attributes?: [] });
    },
  },
  {
    what: 'handler/imap-handler compiler: nothing compiled for a log entry (its third argument, isLogging)',
    why: "imap-core compiles every command line back to text for a debug line and its failure reports' payload; the proxy's logger drops both (log.ts)",
    apply: () => {
      const handler = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown, asArray?: boolean, isLogging?: boolean): string };
      const compile = handler.compiler;
      handler.compiler = (response, asArray, isLogging) => (isLogging ? '' : compile(response, asArray, isLogging));
    },
  },
  {
    what: 'command lsub: the subscribed folders as lsub-listing.ts lists them',
    why: 'imap-core always adds INBOX, subscribed or not, and never lists the unsubscribed parent of a subscribed folder (RFC 3501 6.3.9)',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
      const { compiler } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown): string };
      commandModule('lsub').handler = function (this: CommandContext & CoreConnection, command, callback) {
        const pattern = argumentText(command.attributes?.[0]) + argumentText(command.attributes?.[1]);
        const utf8 = this.acceptUTF8Enabled;
        const query = tools.normalizeMailbox(pattern, !utf8);
        const matching = (paths: string[]) => new Set(tools.filterFolders(paths.map((path) => ({ path })), query).map((folder) => folder.path));
        this._server.onLsub(tools.normalizeMailbox(pattern), this.session, (err, list) => {
          if (err) return callback(err);
          const subscribed = (list ?? []).map((folder) => tools.normalizeMailbox(folder.path));
          for (const entry of lsubListing(subscribed, query, matching)) {
            const path = utf8 ? Buffer.from(entry.path) : tools.utf7encode(entry.path);
            this.send(compiler({ tag: '*', command: 'LSUB', attributes: [entry.flags.map((flag) => ({ type: 'atom', value: flag })), '/', path] }));
          }
          callback(null, { response: 'OK', message: 'LSUB completed' });
        });
      };
    },
  },
  {
    what: 'commands select (SELECT and EXAMINE): select-command.ts',
    why: 'imap-core always answers `* 0 RECENT`, never `[UNSEEN n]`, and its PERMANENTFLAGS cannot follow the keywords a session learns later',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
      (commandModule('select') as unknown as { handler: unknown }).handler = makeSelectHandler(tools.normalizeMailbox);
    },
  },
  {
    what: 'command list (LIST and XLIST): list-command.ts',
    why: 'imap-core knows neither LIST-EXTENDED (RFC 5258: selection options, several patterns, RETURN) nor LIST-STATUS (RFC 5819)',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
      const { compiler } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown): string };
      const mod = commandModule('list') as unknown as { handler: unknown; schema: unknown };
      mod.schema = false;
      mod.handler = makeListHandler({ ...tools, compile: compiler });
    },
  },
  {
    what: 'IMAPConnection.formatResponse: a FETCH update with a keyword the session was not told of is preceded by FLAGS; an EXPUNGE by the ESEARCH REMOVEFROM of the searches kept updated; the UID list shared with the folder is copied before an EXISTS or EXPUNGE changes it',
    why: 'imap-core sends the flag changes of other sessions as they are; a client learns the keywords of a mailbox from FLAGS (RFC 3501 7.2.6); REMOVEFROM must name the message while it has its sequence number (RFC 5267 4.3); imap-core pushes to and splices the session\'s UID list in place',
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const format = IMAPConnection.prototype.formatResponse;
      IMAPConnection.prototype.formatResponse = function (this: CoreConnection, command, uid, data) {
        const qresync = stateOf(this.session).qresync;
        if (/^(EXISTS|EXPUNGE)$/i.test(String(command))) ownUidList(this.session);
        if (String(command).toUpperCase() === 'FETCH' && Array.isArray(data?.flags)) {
          for (const line of keywordAnnouncement(this.session, data.flags)) this.session.writeStream.write({ compiled: Buffer.from(line) });
          // with QRESYNC a FETCH of flags names its message's UID (RFC 7162 3.2.4)
          if (qresync) return format.call(this, command, uid, { uid, ...data });
        }
        // a message leaves the searches kept UPDATEd before its EXPUNGE (RFC 5267 4.3)
        if (String(command).toUpperCase() === 'EXPUNGE') {
          for (const line of removedBeforeExpunge(this.session, [uid])) this.session.writeStream.write({ compiled: Buffer.from(line) });
          // with QRESYNC an expunge is told by UID (RFC 7162 3.2.10); imap-core's own response keeps the session's sequence numbers in step
          const expunge = format.call(this, command, uid, data);
          return expunge && qresync ? { compiled: Buffer.from(`* VANISHED ${uid}`) } : expunge;
        }
        return format.call(this, command, uid, data);
      };
    },
  },
  {
    what: 'IMAPConnection.emitNotifications: `* n RECENT` after the EXISTS of messages that are \\Recent in the session',
    why: 'imap-core has no \\Recent; the first session told of a new message gets it (RFC 3501 2.3.2, 7.3.2)',
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const emit = IMAPConnection.prototype.emitNotifications;
      IMAPConnection.prototype.emitNotifications = function (this: CoreConnection) {
        const selected = this.session.selected;
        const last = selected ? (selected.uidList.at(-1) ?? 0) : 0;
        emit.call(this);
        const claim = this._server.options.claimArrivals;
        if (!selected || this.session.selected !== selected || !claim) return;
        const list = selected.uidList;
        let first = list.length;
        while (first > 0 && (list[first - 1] as number) > last) first--;
        const taken = claim(this.session, list.slice(first));
        if (taken.length === 0) return;
        const recent = stateOf(this.session).recent;
        for (const uid of taken) recent.add(uid);
        let count = 0;
        for (const uid of recent) if (indexOfUid(list, uid) >= 0) count++;
        this.session.writeStream.write({ compiled: Buffer.from(`* ${count} RECENT`) });
      };
    },
  },
  {
    what: 'IMAPConnection.send: a line goes out through the output stream, after what is queued there; a `* SEARCH` line becomes the ESEARCH, SORT or THREAD line its command asked for (ESEARCH also for SORT RETURN)',
    why: "imap-core writes some responses (SELECT's, LIST's, STATUS, SEARCH, a failed command's) straight to the socket, past the end of a large FETCH literal still queued in its output stream: the line landed inside the literal (imaptest stress with large messages)",
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const send = IMAPConnection.prototype.send;
      IMAPConnection.prototype.send = function (this: CoreConnection, payload: string, callback?: () => void) {
        const state = this.session && payload.startsWith('* SEARCH') ? stateOf(this.session) : undefined;
        const sortAnswer = state?.sortAnswer;
        if (state) state.sortAnswer = undefined;
        if (typeof sortAnswer === 'string') payload = sortAnswer;
        else if (state?.searchReturn) {
          // a SEARCH's numbers ascending, a SORT's in sort order
          const numbers = sortAnswer ?? searchNumbers(payload);
          keepUpdated(this.session, state.searchReturn, numbers);
          saveResult(this.session, state.searchReturn, numbers);
          payload = esearchLine(numbers, state.searchReturn);
          if (!payload) return;
        }
        const output = this.session?.writeStream;
        // a caller waiting for the write (STARTTLS), or a connection on its way out: as imap-core does
        if (callback || !output?.writable || this._closing || this._closed) {
          if (output) flushLines(output);
          return send.call(this, payload, callback);
        }
        output.write({ compiled: Buffer.from(payload, 'binary') });
      };
    },
  },
  {
    what: 'IMAPComposer (the output stream): the lines of one turn of the event loop joined into one write, the responses it compiles itself (notifications) among them, streamed literals sent through it (response-output.ts); IMAPConnection.close sends what is queued first',
    why: 'imap-core pushes each line and then its CRLF, each a write of its own to the socket (a LOGIN took 14 system calls; on loopback each also wakes the reader), and pipes a FETCH literal straight into the socket, where it overtook lines the paused output stream still held (CI: a BODY[] response lost while the socket was corked)',
    apply: () => {
      const { IMAPComposer } = requireCore(`${CORE}/lib/imap-composer.js`) as { IMAPComposer: CoreComposerClass };
      const { compiler } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown): string | Buffer };
      const { _transform: transform, _flush: flush, _read: read } = IMAPComposer.prototype;
      IMAPComposer.prototype._transform = function (this: CoreComposer, item, encoding, done) {
        if (!item) return done();
        if (typeof (item as Readable).pipe === 'function') return streamLiteral(this, item as Readable, () => done());
        // a line compiled already, or a response to compile (a notification's EXPUNGE, EXISTS or
        // FETCH: one write each before, a burst of 20 EXPUNGEs 20 system calls). imap-core's own
        // branch also logs the line, at debug, which the proxy's logger drops (log.ts)
        const compiled = (item as { compiled?: unknown }).compiled ?? compiler(item);
        if (Buffer.isBuffer(compiled) || typeof compiled === 'string') {
          queueLine(this, Buffer.isBuffer(compiled) ? compiled : Buffer.from(compiled, 'binary'));
          // a command's tagged answer from imap-core goes out now, with what is queued before it,
          // as imap-core sent it: COMPRESS starts compressing right after its OK
          const tag = (item as { tag?: unknown }).tag;
          if (tag !== undefined && tag !== '*' && tag !== '+') flushLines(this);
          return done();
        }
        flushLines(this);
        return transform.call(this, item, encoding, done);
      };
      IMAPComposer.prototype._flush = function (this: CoreComposer, done) {
        flushLines(this);
        return flush.call(this, done);
      };
      IMAPComposer.prototype._read = function (this: CoreComposer, size) {
        resumeLiteral(this);
        return read.call(this, size);
      };
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      const close = IMAPConnection.prototype.close;
      IMAPConnection.prototype.close = function (this: CoreConnection, force?: boolean) {
        const output = this.session?.writeStream;
        if (output && !force) flushLines(output);
        return close.call(this, force);
      };
    },
  },
  {
    what: 'IMAPConnection.init: the greeting at once, without a reverse DNS lookup',
    why: 'imap-core greets only after resolving the client address (up to 1 s), and answers commands a client pipelined meanwhile before its greeting',
    apply: () => {
      const { IMAPConnection } = requireCore(`${CORE}/lib/imap-connection.js`) as { IMAPConnection: CoreConnectionClass };
      IMAPConnection.prototype.init = function (this: CoreConnection & { _setListeners(): void }) {
        this._setListeners();
        const hostname = `[${this.remoteAddress}]`;
        this.session.clientHostname = this.clientHostname = hostname;
        this.send(`* OK [CAPABILITY ${capabilitiesOf(this)}] ${this._server.options.id?.name ?? 'IMAP'} ready`);
      };
    },
  },
  {
    what: 'command starttls: only before authentication',
    why: 'imap-core accepts STARTTLS after LOGIN (and then waits for a handshake); RFC 3501 6.2.1 allows it only before',
    apply: () => {
      (commandModule('starttls') as unknown as { state: string[] }).state = ['Not Authenticated'];
    },
  },
  {
    what: 'imap-tools sendCapabilityResponse, the greeting, commands login and authenticate-plain: the capabilities of capabilities.ts, also in the greeting and the login OK',
    why: 'imap-core announces XLIST, AUTH=PLAIN-CLIENTTOKEN and QUOTA, which the proxy does not offer, and STARTTLS after login; clients read the capabilities from the greeting and the login answer (as Dovecot sends them) instead of asking',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
      tools.sendCapabilityResponse = (connection) => connection.send(`* CAPABILITY ${capabilitiesOf(connection)}`);
      for (const file of ['login', 'authenticate-plain']) {
        const mod = commandModule(file);
        const original = mod.handler;
        mod.handler = function (command, callback, next) {
          const connection = this as unknown as CoreConnection;
          original.call(this, command, (err, ...result) => {
            const answer = result[0] as { response?: string; code?: string } | undefined;
            if (!err && answer?.response === 'OK' && !answer.code) answer.code = `CAPABILITY ${capabilitiesOf(connection)}`;
            callback(err, ...result);
          }, next);
        };
      }
    },
  },
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
    what: 'IMAPConnection._setListeners and IMAPStream._write: an input guard per connection; it turns SORT and THREAD into SEARCH (sort-command.ts), NOTIFY into NOOP, and tells NOTIFY when commands end',
    why: 'imap-core bounds a line (maxLineLength) but not the literals of one command; and it catches no exception of its own or of a handler (see input-guard.ts). imap-core has no SORT or THREAD and its command table is private: their criteria run as a SEARCH, the search handler orders or threads what it found, and the `* SEARCH` line is replaced (IMAPConnection.send); NOTIFY is answered in the NOOP command module; NOTIFY\'s responses go out between commands only',
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
          const guard = new InputGuard(
            this,
            parser,
            limit,
            (line) => cancelUpdate(this.session, line, this.state === 'Selected'),
            (line) => substituteSaved(this.session, takeSortCommand(this.session, takeNotifyCommand(this.session, line))),
            {
              started: () => {
                stateOf(this.session).commandRunning = true;
              },
              ended: () => {
                const state = stateOf(this.session);
                state.commandRunning = false;
                state.notify?.commandEnded();
              },
            },
          );
          guards.set(parser, guard);
          const handle = parser.oncommand.bind(parser);
          parser.oncommand = (line, callback = () => undefined) => guard.command(handle, line, callback);
          // LITERAL+: no continuation request for a literal the client sends without one
          const send = this.send;
          this.send = function (this: CoreConnection, payload, callback) {
            if (payload === CONTINUATION && !guard.continuationWanted()) return;
            send.call(this, payload, callback);
          };
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
    what: 'commands search, append: when EXISTS / EXPUNGE / FETCH updates are sent',
    why: 'RFC 3501 7.4.1 forbids EXPUNGE while answering SEARCH (imap-core sends it); APPEND to the selected mailbox should be followed by its EXISTS (6.3.11), which imap-core holds back',
    apply: () => {
      commandModule('search').disableNotifications = true;
      commandModule('append').disableNotifications = false;
    },
  },
  {
    what: 'command create: `CREATE name (USE (\\Archive ...))` (RFC 6154 3)',
    why: 'imap-core takes one argument; the special-use attributes go upstream with the CREATE (CREATE-SPECIAL-USE is announced where upstream has it)',
    apply: () => {
      const mod = commandModule('create') as CommandModule & { schema: unknown[] };
      mod.schema = [...mod.schema, { name: 'use', type: 'array', optional: true }];
      wrapCommand('create', (context, command, callback) => {
        const [name, options] = command.attributes ?? [];
        stateOf(context.session).createUse = [];
        if (options === undefined) return false;
        const list = Array.isArray(options) ? options : [];
        const use = list[1];
        if (list.length !== 2 || String((list[0] as ImapToken | undefined)?.value).toUpperCase() !== 'USE' || !Array.isArray(use)) {
          callback(null, { response: 'BAD', message: 'CREATE takes (USE (attributes)) after the name' });
          return true;
        }
        stateOf(context.session).createUse = use.map((flag) => String((flag as ImapToken).value));
        command.attributes = [name];
        return false;
      });
    },
  },
  {
    what: 'command enable: QRESYNC, which enables CONDSTORE too',
    why: 'imap-core knows CONDSTORE and UTF8=ACCEPT only; QRESYNC is answered by the proxy (qresync.ts, RFC 7162 3.2.3)',
    apply: () => {
      commandModule('enable').handler = function (this: CommandContext & CoreConnection & { condstoreEnabled: boolean }, command, callback) {
        const enabled = new Set<string>();
        for (const name of (command.attributes ?? []).map((arg) => plainValue(arg)?.toUpperCase())) {
          if (name === 'CONDSTORE' || name === 'QRESYNC') this.condstoreEnabled = true;
          if (name === 'QRESYNC') stateOf(this.session).qresync = true;
          if (name === 'UTF8=ACCEPT') this.acceptUTF8Enabled = true;
          if (name === 'CONDSTORE' || name === 'QRESYNC' || name === 'UTF8=ACCEPT') enabled.add(name);
        }
        this.send(['* ENABLED', ...enabled].join(' '));
        callback(null, { response: 'OK', message: 'Enabled.' });
      };
    },
  },
  {
    what: 'command fetch (FETCH and UID FETCH): fetch-command.ts',
    why: "imap-core's handler builds a JSON debug line and compiles every item and the whole command back to text for a log entry on every command, read or not: a client fetching message by message paid that per message",
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as Omit<FetchTools, 'compile'>;
      const { compiler } = requireCore(`${CORE}/lib/handler/imap-handler.js`) as { compiler(response: unknown): string };
      (commandModule('fetch') as unknown as { handler: unknown }).handler = makeFetchHandler({ fetchSchema: tools.fetchSchema, validateSequence: tools.validateSequence, compile: compiler });
    },
  },
  {
    what: 'command fetch: the VANISHED modifier of UID FETCH (RFC 7162 3.2.6) taken off and noted in the session state',
    why: 'imap-core accepts CHANGEDSINCE alone; the proxy answers VANISHED (EARLIER) from its record of expunges (on-fetch.ts)',
    apply: () => {
      wrapCommand('fetch', (context, command, callback) => {
        const state = stateOf(context.session);
        state.fetchVanished = undefined;
        const modifiers = command.attributes?.[2];
        if (!Array.isArray(modifiers) || !modifiers.some((m) => plainValue(m)?.toUpperCase() === 'VANISHED')) return false;
        const rest = modifiers.filter((m) => plainValue(m)?.toUpperCase() !== 'VANISHED');
        const uid = (command as { command?: string }).command?.toUpperCase() === 'UID FETCH';
        const refusal = !state.qresync
          ? 'QRESYNC not enabled'
          : !uid
            ? 'VANISHED only with UID FETCH'
            : plainValue(rest[0])?.toUpperCase() !== 'CHANGEDSINCE'
              ? 'VANISHED only with CHANGEDSINCE'
              : undefined;
        if (refusal) {
          callback(null, { response: 'BAD', message: refusal });
          return true;
        }
        state.fetchVanished = requestedUids(plainValue(command.attributes?.[0]) ?? '');
        (command.attributes as CommandArgument[])[2] = rest;
        return false;
      });
    },
  },
  {
    what: 'command status: the items asked for noted in the session state',
    why: 'HIGHESTMODSEQ is the proxy\'s own, which a folder changed upstream has only after a sync: on-status.ts syncs only where it is asked for',
    apply: () => {
      wrapCommand('status', (context, command) => {
        const items = command.attributes?.[1];
        stateOf(context.session).statusItems = Array.isArray(items) ? items.map((item) => plainValue(item)?.toUpperCase() ?? '') : [];
        return false;
      });
    },
  },
  {
    what: 'commands noop, check: the selected mailbox is refreshed first',
    why: "imap-core answers at once from what it has; a client polls with NOOP to hear of other clients' changes",
    apply: () => {
      for (const file of ['noop', 'check']) {
        const mod = commandModule(file);
        const original = mod.handler;
        mod.handler = function (this: CommandContext & Partial<CoreConnection>, command, callback, next) {
          const refresh = this._server?.options.refreshSelected;
          if (!refresh || !this.session.selected) return original.call(this, command, callback, next);
          refresh(this.session).then(() => contain(this.session, () => original.call(this, command, callback, next)));
        };
      }
    },
  },
  {
    what: 'command noop: a NOTIFY (RFC 5465), which reaches it as a NOOP (the input guard), is answered by notify-session.ts',
    why: 'imap-core has no NOTIFY and its command table is private; NOOP runs in every state and changes nothing of its own',
    apply: () => {
      wrapCommand('noop', (context, _command, callback) => {
        const state = stateOf(context.session);
        const request = state.notifyRequest;
        if (!request) return false;
        state.notifyRequest = undefined;
        const connection = context as CommandContext & CoreConnection & { emitNotifications(): void };
        runNotify(context.session.id, state, request, notifyOutput(connection)).then(
          (answer) => contain(context.session, () => callback(null, answer)),
          (err: unknown) => contain(context.session, () => callback(null, answerFor(err))),
        );
        return true;
      });
    },
  },
  {
    what: 'commands lsub, enable: inputs they throw on are answered first',
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
    what: 'command search: its arguments kept as the client wrote them; SEARCH RETURN (...) answered with ESEARCH; a malformed SORT or THREAD refused',
    why: 'imap-core flattens the parsed query, losing parenthesised groups; the proxy sends the criteria upstream as they were (search-query.ts). imap-core knows no ESEARCH (RFC 4731): RETURN is taken off before it parses, and its SEARCH line becomes the ESEARCH line (IMAPConnection.send). SORT and THREAD (RFC 5256) reach it as a SEARCH (see the input guard): their BAD / NO [BADCHARSET] is given here',
    apply: () =>
      wrapCommand('search', (context, command, callback) => {
        const state = stateOf(context.session);
        const sort = state.sortRequest;
        if (sort?.kind === 'refused') {
          state.sortRequest = undefined;
          callback(null, { response: sort.response, ...(sort.code ? { code: sort.code } : {}), message: sort.message });
          return true;
        }
        const taken = takeSearchReturn((command.attributes ?? []) as ImapToken[]);
        if (typeof taken === 'string') {
          callback(null, { response: 'BAD', message: taken });
          return true;
        }
        if (taken) command.attributes = taken.criteria as CommandArgument[];
        const { tag, command: name } = command as { tag?: string; command?: string };
        state.searchReturn = taken
          ? {
              tag: tag ?? '*',
              uid: name?.toUpperCase() === 'UID SEARCH',
              options: taken.options,
              ...(taken.partial ? { partial: taken.partial } : {}),
              ...(taken.options.has('UPDATE') ? { criteria: taken.criteria as ImapToken[] } : {}),
            }
          : undefined;
        state.searchArguments = (command.attributes ?? []) as ImapToken[];
        return false;
      }),
  },
  {
    what: 'commands fetch, search, store, uid-store: whether CONDSTORE was enabled before them is noted',
    why: 'the command that enables CONDSTORE owes `* OK [HIGHESTMODSEQ]` (RFC 7162 3.1); imap-core enables it on the way in, before the handler runs',
    apply: () => {
      for (const file of ['fetch', 'search', 'store', 'uid-store']) {
        wrapCommand(file, (context) => {
          const selected = context.session.selected;
          stateOf(context.session).condstoreBefore = !!selected && selected.condstoreEnabled;
          return false;
        });
      }
    },
  },
  {
    what: 'commands subscribe, unsubscribe: INBOX too',
    why: 'imap-core answers SUBSCRIBE INBOX with OK and UNSUBSCRIBE INBOX with NO without asking the handler (a WildDuck rule); upstream decides, and Dovecot allows both',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as CoreTools;
      for (const [file, handler] of [['subscribe', 'onSubscribe'], ['unsubscribe', 'onUnsubscribe']] as const) {
        wrapCommand(file, (context, command, callback) => {
          const connection = context as CommandContext & CoreConnection;
          const path = tools.normalizeMailbox(argumentText(command.attributes?.[0]), !connection.acceptUTF8Enabled);
          if (path !== 'INBOX') return false;
          const done = (err: Error | null) => callback(err, err ? undefined : { response: 'OK', message: `${file.toUpperCase()} completed` });
          connection._server[handler](path, context.session, done);
          return true;
        });
      }
    },
  },
  {
    what: 'imap-tools fetchSchema: BINARY[part]<partial>, BINARY.PEEK and BINARY.SIZE[part] (RFC 3516)',
    why: 'imap-core knows no BINARY items and answers BAD; the proxy passes them upstream (decoding is upstream\'s work) and caches what comes back',
    apply: () => {
      const tools = requireCore(`${CORE}/lib/imap-tools.js`) as { fetchSchema: Record<string, unknown> };
      const part = { type: /^CONTENT$/i, startFrom: 'optional', maxLength: 'optional' };
      tools.fetchSchema['binary'] = [part];
      tools.fetchSchema['binary.peek'] = [part];
      tools.fetchSchema['binary.size'] = [{ type: /^CONTENT$/i }];
    },
  },
  {
    what: 'IMAPCommand.append for an APPEND, and command append: append-intake.ts takes the command line by line',
    why: 'imap-core buffers each literal whole (a 64 MB APPEND held 64 MB) and knows one message per APPEND; MULTIAPPEND (RFC 3502) and literal8 (RFC 3516) literals are spooled as they come, then streamed upstream',
    apply: () => {
      const { IMAPCommand } = requireCore(`${CORE}/lib/imap-command.js`) as { IMAPCommand: CoreCommandClass };
      const intakes = new WeakMap<object, AppendIntake>();
      const append = IMAPCommand.prototype.append;
      IMAPCommand.prototype.append = function (line, callback) {
        const connection = this.connection;
        const opening = this.first && typeof connection._nextHandler !== 'function' ? APPEND_LINE.exec(line.value) : null;
        if (opening) {
          const intake = new AppendIntake(appendTarget(connection));
          intakes.set(this, intake);
          stateOf(connection.session).appendIntake = intake;
          // imap-core sees `tag APPEND` alone: it checks the state and runs the command module at the end
          return append.call(this, { value: opening[0], final: line.final }, (err) => {
            if (err) return callback(err);
            takeLine(this.tag ?? '*', connection, intake, line, line.value.slice(opening[0].length), callback);
          });
        }
        const intake = intakes.get(this);
        if (!intake) return append.call(this, line, callback);
        takeLine(this.tag ?? '*', connection, intake, line, line.value, callback);
      };
      const mod = commandModule('append') as CommandModule & { schema: unknown[] };
      mod.schema = [];
      mod.handler = function (this: CommandContext & CoreConnection, _command, callback) {
        const state = stateOf(this.session);
        const intake = state.appendIntake;
        state.appendIntake = undefined;
        if (!intake) return callback(null, { response: 'BAD', message: 'APPEND needs a mailbox name and a message' });
        (this._server as unknown as ImapServerHandlers).onAppend(intake, this.session, callback);
      };
    },
  },
  {
    what: 'IMAPCommand.sendNotifications: after a command (not FETCH or SEARCH) in a session with searches kept UPDATEd, they run again and what changed is reported before the tagged answer',
    why: 'CONTEXT=SEARCH (RFC 5267 4.3): ADDTO and REMOVEFROM for the messages a change brought into or out of a result; imap-core knows no such searches',
    apply: () => {
      const { IMAPCommand } = requireCore(`${CORE}/lib/imap-command.js`) as { IMAPCommand: CoreCommandClass };
      const sendNotifications = IMAPCommand.prototype.sendNotifications;
      IMAPCommand.prototype.sendNotifications = function (handler, callback) {
        const { session, state } = this.connection;
        const search = this.connection._server.options.searchSelected;
        const searches = session ? stateOf(session).contextSearches : undefined;
        if (!search || !searches?.size || NO_CONTEXT_REFRESH.has(this.command ?? '')) return sendNotifications.call(this, handler, callback);
        if (state !== 'Selected') {
          searches.clear();
          return sendNotifications.call(this, handler, callback);
        }
        sendNotifications.call(this, handler, () => {
          refreshContextSearches(session, (kept) => search(session, kept)).then(
            (lines) =>
              contain(session, () => {
                for (const line of lines) session.writeStream.write({ compiled: Buffer.from(line) });
                callback();
              }),
            (err: unknown) =>
              contain(session, () => {
                stateOf(session).log.info({ err, session: session.id }, 'a search kept updated could not be run again');
                callback();
              }),
          );
        });
      };
    },
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
