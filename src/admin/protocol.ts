/**
 * The admin protocol between `imap-cache-proxy cache|status` and a running proxy: one JSON object
 * per line over a Unix socket in the data directory (mode 0600), a request and its response.
 */
export const ADMIN_PROTOCOL_VERSION = 1;
export const ADMIN_SOCKET_NAME = 'admin.sock';

/** Which cached data a clear drops: everything, one account's, or one folder's. */
export interface ClearScope {
  /** The user name of the account; all accounts when absent. */
  account?: string;
  /** The folder; all folders of the selected accounts when absent. */
  folder?: string;
}

export type AdminRequest =
  | { v: number; command: 'stats' }
  | { v: number; command: 'clear'; scope: ClearScope }
  | { v: number; command: 'status' }
  | { v: number; command: 'verify'; repair: boolean };

export type AdminResponse<T = unknown> =
  | { v: number; ok: true; result: T }
  | { v: number; ok: false; error: { code: string; message: string } };

export type { VerifyProblem, VerifyResult } from '../cache/cache-store.js';

export interface Usage {
  messages: number;
  bodies: number;
  bytes: number;
}

export interface FolderStats extends Usage {
  folder: string;
  /** When the folder was last brought up to date with upstream (ISO 8601), null if never. */
  lastSync: string | null;
}

export interface AccountStats {
  user: string;
  upstream: string;
  folders: FolderStats[];
  totals: Usage;
}

export interface StatsResult {
  accounts: AccountStats[];
  totals: Usage;
}

export interface ClearResult {
  accounts: number;
  folders: number;
}

export interface AccountStatus {
  user: string;
  upstream: string;
  /** Upstream connections open for client work now. */
  connections: number;
  /** The account watcher is connected and watching upstream for changes. */
  watching: boolean;
  /** Bodies clients fetched since the start: from the cache, or fetched upstream for them. */
  served: { cache: { bodies: number; bytes: number }; upstream: { bodies: number; bytes: number } };
  prefetch: {
    state: string;
    folder?: string;
    messagesDone: number;
    messagesTotal: number;
    bytesDone: number;
    bytesTotal: number;
    rate: number;
    etaSeconds?: number;
  } | null;
}

export interface StatusResult {
  version: string;
  pid: number;
  uptimeSeconds: number;
  listen: string;
  tlsListen?: string;
  clients: number;
  rssAnonMb: number;
  accounts: AccountStatus[];
}
