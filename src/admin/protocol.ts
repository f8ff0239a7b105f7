import type { FolderUsage, SharingUsage } from '../cache/cache-store.js';
import type { Traffic } from '../model/types.js';

/**
 * The admin protocol between `imap-cache-proxy cache|status` and a running proxy: one JSON object
 * per line over a Unix socket in the data directory (mode 0600), a request and its response.
 */
// 2: accounts have a login name (`name`), `status` a `loggedIn`, `stats` an `account`
// 3: `status` has each account's connection limit, throttle pause and downloads today
// 4: `stats` has `sharing` (bodies stored by content), `verify` checks contents and their counts
// 5: `status` has each account's upstream traffic since the start (bytes read and written)
// 6: `status` has each account's lockout by the server (`lockedOut`)
export const ADMIN_PROTOCOL_VERSION = 6;
export const ADMIN_SOCKET_NAME = 'admin.sock';

/** Which cached data a clear drops: everything, one account's, or one folder's. */
export interface ClearScope {
  /** The account's name (the one clients log in with); all accounts when absent. */
  account?: string;
  /** The folder; all folders of the selected accounts when absent. */
  folder?: string;
}

export type AdminRequest =
  /** `account`: only the account of this name; all when absent. */
  | { v: number; command: 'stats'; account?: string }
  | { v: number; command: 'clear'; scope: ClearScope }
  | { v: number; command: 'status' }
  | { v: number; command: 'verify'; repair: boolean };

export type AdminResponse<T = unknown> =
  | { v: number; ok: true; result: T }
  | { v: number; ok: false; error: { code: string; message: string } };

export type { VerifyProblem, VerifyResult } from '../cache/cache-store.js';

/**
 * What is cached against what there is, the same quantities in `cache stats` and `status`:
 * messages (whose metadata is always cached), whole bodies cached and their bytes, the bytes of
 * all bodies (RFC822.SIZE), and header blocks and parts cached apart from whole bodies.
 */
export type Usage = FolderUsage;

/** Whole bodies stored once per account, however many of its folders have them (Gmail's labels): what that saves. */
export type Sharing = SharingUsage;

export interface FolderStats extends Usage {
  folder: string;
  /** When the folder was last brought up to date with upstream (ISO 8601), null if never. */
  lastSync: string | null;
}

export interface AccountStats {
  /** The name clients log in with. */
  name: string;
  /** The user name upstream. */
  user: string;
  upstream: string;
  folders: FolderStats[];
  totals: Usage;
  /** Whole bodies stored once for every folder of the account that has them. */
  sharing: Sharing;
}

export interface StatsResult {
  accounts: AccountStats[];
  totals: Usage;
  /** The accounts' sharing, added up. */
  sharing: Sharing;
}

export interface ClearResult {
  accounts: number;
  folders: number;
}

export interface AccountStatus {
  /** The name clients log in with. */
  name: string;
  /** The user name upstream. */
  user: string;
  upstream: string;
  /** A client logged in since the proxy started (a configured account is listed before that too). */
  loggedIn: boolean;
  /** Upstream connections open now, the watcher's included. */
  connections: number;
  /** Upstream connections the account may have, the watcher's included (upstream-connections). */
  connectionLimit: number;
  /** Upstream refused another connection: the proxy keeps to this many (the watcher's included) until then (ISO 8601). */
  connectionsLimited?: { connections: number; until: string };
  /** Upstream asked the proxy to slow down: the account's upstream commands pause this many seconds more. */
  throttledSeconds?: number;
  /**
   * The server locks the account out (Gmail: "Account exceeded command or bandwidth limits"):
   * since when, until when no upstream command or login is tried (ISO 8601), what it said.
   */
  lockedOut?: { since: string; until: string; reason: string };
  /**
   * Message bytes downloaded from upstream today (`day`, local time), for clients and the
   * background sync alike, and the background sync's daily budget (null: none).
   */
  downloaded: { day: string; bytes: number; budget: number | null };
  /** The account watcher is connected and watching upstream for changes (on one of those connections). */
  watching: boolean;
  /** What is cached, as `cache stats` counts it. */
  cached: Usage;
  /** Bodies clients fetched since the start: from the cache, or fetched upstream for them; and MIME part sections, counted the same way. */
  served: { cache: { bodies: number; bytes: number }; upstream: { bodies: number; bytes: number }; parts: { cache: number; upstream: number } };
  /** Bytes read from and written to upstream since the start, by every connection of the account. */
  upstreamTraffic: Traffic;
  /** auth = "oauth2": why the provider refuses the stored grant (revoked, expired), until a new `account login`. */
  tokensRefused?: string;
  /** The background sync: null when it is off. */
  prefetch: {
    state: string;
    mode: string;
    folder?: string;
    /** Body bytes per second it fetched since it began. */
    rate: number;
    /** Seconds until every body is cached, at that rate. */
    etaSeconds?: number;
    /** Paused: the day's download budget is spent; it goes on then (ISO 8601). */
    resumesAt?: string;
  } | null;
}

export interface StatusResult {
  version: string;
  pid: number;
  uptimeSeconds: number;
  listen: string;
  tlsListen?: string;
  clients: number;
  /** The certificate clients see over TLS, and its SHA-256 fingerprint (what a mail client shows to compare). */
  tls: { cert: string; fingerprint: string };
  rssAnonMb: number;
  accounts: AccountStatus[];
}
