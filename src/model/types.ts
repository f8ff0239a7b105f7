/** Shared types of the proxy's domain. Imports nothing. */

/** Identifies one user on one upstream server; the cache namespace of that account. */
export type AccountId = string;

/** A folder path as clients see it: Unicode, hierarchy separator "/". */
export type FolderPath = string;

export type Uid = number;

export type PrefetchMode = 'off' | 'headers' | 'all';

export interface UpstreamEndpoint {
  /** imap: plain or STARTTLS as the server offers; imaps: implicit TLS. */
  secure: boolean;
  host: string;
  port: number;
  /** The URL as configured, normalised (scheme://host:port). */
  url: string;
  /** How upstream's certificate is checked; absent: against the system's CAs. */
  tls?: UpstreamTls;
}

/** How upstream's certificate is checked, with imaps and after STARTTLS alike. */
export interface UpstreamTls {
  /** PEM certificates trusted instead of the system's CAs (--upstream-ca). */
  ca?: string;
  /** false only with --upstream-insecure. */
  rejectUnauthorized: boolean;
}

export interface Credentials {
  user: string;
  pass: string;
}

/**
 * How the proxy logs in upstream: with the client's password, or (auth = "oauth2") with an
 * access token asked for at each new connection, so that each gets one that is still valid.
 * `accessToken(refused)` after upstream refused the token `refused`: a new one, not that one.
 */
export type UpstreamLogin = Credentials | { user: string; accessToken: (refused?: string) => Promise<string>; mechanism?: 'XOAUTH2' | 'OAUTHBEARER' };

/** One entry of the folder list as upstream reported it. */
export interface FolderListEntry {
  path: FolderPath;
  /** LIST attributes other than special-use, e.g. \HasChildren, \Noselect. */
  flags: string[];
  specialUse: string | null;
  subscribed: boolean;
}

/** Bytes read from and written to upstream. */
export interface Traffic {
  read: number;
  written: number;
}

/** What a SELECT/EXAMINE or STATUS upstream tells about a folder. */
export interface FolderStatus {
  uidValidity: number;
  uidNext: number;
  messages: number;
  /** "0" when upstream has no CONDSTORE for this folder. Decimal string: modseqs are 63-bit. */
  highestModseq: string;
  /** Messages without \Seen, when upstream was asked for it. */
  unseen?: number;
  /** Keywords upstream lists in the folder's FLAGS (SELECT only). */
  keywords?: string[];
  /**
   * The message count is current, UIDNEXT and HIGHESTMODSEQ may be older than upstream's (a
   * connection that has had the folder selected for a while): a sync asks what changed since
   * instead of comparing them.
   */
  stale?: boolean;
}

/** Per-message metadata as cached: everything but structure and bytes. */
export interface MessageMeta {
  uid: Uid;
  flags: string[];
  /** Decimal string; "0" when upstream has no CONDSTORE. */
  modseq: string;
  size: number;
  /** INTERNALDATE exactly as upstream wrote it, e.g. "01-Jan-2025 03:55:02 +0000". */
  internalDate: string;
  /** Gmail's X-GM-MSGID (decimal), where upstream has X-GM-EXT-1: the same message under every label. */
  gmMsgId?: string;
}

/** Raw IMAP forms of a message's structure items, stored and served verbatim. */
export interface MessageStructure {
  envelope?: Buffer;
  bodystructure?: Buffer;
  /** The non-extensible BODY item. */
  body?: Buffer;
  /** Not an IMAP item: where each MIME part is in the cached body (cache/part-index.ts), once indexed. */
  parts?: Buffer;
}

export type StructureItem = 'envelope' | 'bodystructure' | 'body';

/** A folder that can be selected: not a \Noselect parent, nor a name upstream lists as \NonExistent. */
export function isSelectable(entry: FolderListEntry): boolean {
  return !entry.flags.some((flag) => /^\\(Noselect|NonExistent)$/i.test(flag));
}
