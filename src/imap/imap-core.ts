/**
 * The one module that loads WildDuck's imap-core. It has no type declarations: the few parts
 * the proxy uses are declared here. It is CommonJS and its config loader must be switched off
 * before it is loaded (it would read process.argv and ./config/ and may exit the process).
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
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
  handler(this: { session: ImapSession }, command: unknown, callback: Callback, next: unknown): void;
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
