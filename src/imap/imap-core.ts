/**
 * WildDuck's imap-core as the proxy uses it: the server class and the types of what it hands to
 * handlers. It is CommonJS without type declarations, so the parts the proxy uses are declared
 * here. Its config loader must be switched off before it is loaded (it would read process.argv
 * and ./config/ and may exit the process). Its internals are reached by core-patches.ts alone.
 */
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import type { Transform } from 'node:stream';
import type { AppendIntake } from './append-intake.js';

process.env['DISABLE_WILD_CONFIG'] = 'true';
export const requireCore = createRequire(import.meta.url);
export const CORE = '@zone-eu/wildduck/imap-core';

export interface ImapToken {
  type: string;
  value: string;
  section?: (ImapToken | ImapToken[])[];
  partial?: number[];
}

/** A command's argument as imap-core's parser gives it. */
export type CommandArgument = ImapToken | ImapToken[] | undefined;

/** The value of a plain argument (atom, string, literal); undefined for a list or NIL. */
export function plainValue(arg: CommandArgument): string | undefined {
  return Array.isArray(arg) || arg?.value === undefined || arg.value === null ? undefined : String(arg.value);
}

/** A plain argument as text ('' for a list or NIL): imap-core keeps it as the binary string of its bytes. */
export function argumentText(arg: CommandArgument): string {
  return Buffer.from(plainValue(arg) ?? '', 'binary').toString();
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
  clientHostname?: string;
  user?: { id: string; username: string };
  selected: SelectedState | false;
  /** imap-core's output stream (its IMAPComposer), piped into the socket: see response-output.ts. */
  writeStream: Transform;
  socket: Socket;
}

/** A FETCH data item (fetch-command.ts). */
export interface FetchQueryItem {
  item: string;
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

export interface StoreOptions {
  value: string[];
  action: 'add' | 'remove' | 'set';
  silent: boolean;
  messages: number[];
  unchangedSince: number;
}

export interface TransferOptions {
  destination: string;
  messages: number[];
}

export interface ExpungeOptions {
  isUid: boolean;
  messages?: number[];
  /** CLOSE: no responses, the session has already left the folder. */
  silent?: boolean;
}

export interface AuthRequest {
  method: string;
  username: string;
  password: string;
}

export type Callback = (err: Error | null, ...result: unknown[]) => void;

/**
 * Every hook imap-core calls, as the proxy fills them. Arguments before the callback are
 * imap-core's; each handler answers through the callback.
 */
export interface ImapServerHandlers {
  onAuth(login: AuthRequest, session: ImapSession, callback: Callback): void;
  onList(query: string, session: ImapSession, callback: Callback): void;
  onLsub(query: string, session: ImapSession, callback: Callback): void;
  onStatus(path: string, session: ImapSession, callback: Callback): void;
  /** Called by select-command.ts (imap-core's own SELECT is replaced). */
  onOpen(path: string, session: ImapSession, readOnly: boolean, callback: Callback): void;
  onFetch(mailbox: string, options: FetchOptions, session: ImapSession, callback: Callback): void;
  onSearch(mailbox: string, options: SearchOptions, session: ImapSession, callback: Callback): void;
  onStore(mailbox: string, options: StoreOptions, session: ImapSession, callback: Callback): void;
  /** COPY passes imap-core's connection first. */
  onCopy(connection: unknown, mailbox: string, options: TransferOptions, session: ImapSession, callback: Callback): void;
  onMove(mailbox: string, options: TransferOptions, session: ImapSession, callback: Callback): void;
  onExpunge(mailbox: string, options: ExpungeOptions, session: ImapSession, callback: Callback): void;
  /** APPEND (the command module is the proxy's: core-patches.ts): the intake has the command. */
  onAppend(intake: AppendIntake, session: ImapSession, callback: Callback): void;
  onCreate(path: string, session: ImapSession, callback: Callback): void;
  onDelete(path: string, session: ImapSession, callback: Callback): void;
  onRename(path: string, newPath: string, session: ImapSession, callback: Callback): void;
  onSubscribe(path: string, session: ImapSession, callback: Callback): void;
  onUnsubscribe(path: string, session: ImapSession, callback: Callback): void;
}

/** imap-core's notifier: a listener per logged-in session, and the updates of a mailbox above an index. */
export interface ImapNotifier {
  addListener(session: ImapSession, listener: (message?: { command: 'DROP'; mailbox: string }) => void): void;
  removeListener(session: ImapSession): void;
  getUpdates(mailbox: string, modifyIndex: number, callback: (err: null, updates: unknown[]) => void): void;
}

export interface ImapCoreServer extends ImapServerHandlers {
  notifier: ImapNotifier;
  options: Record<string, unknown>;
  server: Server;
  connections: Set<{ session?: ImapSession; close(force?: boolean): void; send(line: string): void }>;
  listen(port: number, host: string, callback?: () => void): void;
  updateSecureContext(options: { key: string; cert: string }): void;
  close(callback: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

interface ImapCoreModule {
  IMAPServer: new (options: Record<string, unknown>) => Omit<ImapCoreServer, keyof ImapServerHandlers | 'notifier'>;
}

const core = requireCore(`${CORE}/index.js`) as ImapCoreModule;

/**
 * A server with the proxy's handlers and notifier, which imap-core reads off the server object.
 * Its `logger` is the one given as it is: imap-core wraps a logger in nodemailer's, which copies
 * every entry into a new object before the level is even looked at (a debug line per command).
 */
export function createCoreServer(options: Record<string, unknown> & { logger: object }, handlers: ImapServerHandlers, notifier: ImapNotifier): ImapCoreServer {
  return Object.assign(new core.IMAPServer(options), handlers, { notifier, logger: options.logger });
}
