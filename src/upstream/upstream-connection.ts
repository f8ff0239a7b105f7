import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { ImapFlow, type MailboxObject } from 'imapflow';
import { imapflowLogger, type Logger } from '../log.js';
import { isProxyError, ProxyError } from '../model/errors.js';
import { IDLE_RETRY_MS, MAX_REPORTED_UIDS, UPSTREAM_CONNECT_TIMEOUT_MS, UPSTREAM_IDLE_RENEW_MS, UPSTREAM_LOGOUT_WAIT_MS } from '../model/limits.js';
import { connectRefusal, isLockoutAnswer, LOCKED_OUT_TEXT, lockedOutError, throttledError, throttleHint, type UpstreamBackoff } from './backoff.js';
import type { FolderListEntry, FolderPath, FolderStatus, Traffic, UpstreamEndpoint, UpstreamLogin } from '../model/types.js';
import { parseUpstreamFetch, type UpstreamFetch } from './fetch-parse.js';
import { decodePath, encodePath, normalizePath } from 'imapflow/lib/tools.js';
import { atom, hasAtom, sequence, tokenString, type Token } from './imap-tokens.js';
import { expandUidSet, parseCopyUid, responseCode, responseText, type CopyUid } from './response-codes.js';
import { toClientPath, toUpstreamPath } from './paths.js';
import { LITERAL_MINUS_MAX, NON_SYNC_APPEND_MAX, streamedAppend, type OutgoingMessage, type RawChannel } from './streamed-append.js';

let nextConnectionId = 1;

/** The items of a STATUS response's list, by upper-case name. */
function statusValues(list: Token | undefined): Map<string, string> {
  const values = new Map<string, string>();
  if (!Array.isArray(list)) return values;
  for (let i = 0; i + 1 < list.length; i += 2) values.set((tokenString(list[i]) ?? '').toUpperCase(), tokenString(list[i + 1]) ?? '');
  return values;
}

/** A NO without a response code that says the mailbox is missing (Dovecot's STATUS and SELECT). */
const MISSING_MAILBOX = /(doesn't|does not|not) exist|no such (mailbox|folder)|unknown (mailbox|folder)/i;

/** What imapflow's errors carry (its types do not declare most of it). */
interface ImapflowError {
  authenticationFailed?: boolean;
  responseStatus?: string;
  responseText?: string;
  response?: TaggedResponse;
  /** The response code of a refused LOGIN or AUTHENTICATE. */
  serverResponseCode?: string;
  /** The text of the BYE the server closed the connection with. */
  reason?: string;
  code?: string;
  message?: string;
}

/** The pause a throttle answer (NO or BAD) asks for; undefined when `err` is no such answer. */
function throttleOf(err: unknown): number | null | undefined {
  const e = err as ImapflowError | undefined;
  if (e?.responseStatus !== 'NO' && e?.responseStatus !== 'BAD') return undefined;
  return throttleHint(e.responseText ?? '');
}

/** The text of a NO or BAD that says the server locks the account out (backoff.ts); undefined for any other. */
function lockoutOf(err: unknown): string | undefined {
  const e = err as ImapflowError | undefined;
  if (e?.responseStatus !== 'NO' && e?.responseStatus !== 'BAD') return undefined;
  const text = e.responseText ?? '';
  return isLockoutAnswer(text, responseCode(e.response?.attributes)?.[0], false) ? text : undefined;
}

/**
 * Maps a failed connect and login: upstream refusing the connection for now (too many
 * connections, throttled) is UPSTREAM_THROTTLED, not a refused password; the rest as upstreamError.
 */
function connectError(err: unknown, context: Record<string, unknown>): ProxyError {
  const e = err as ImapflowError;
  const refusal = connectRefusal({
    ...(e?.responseStatus ? { status: e.responseStatus } : {}),
    ...(e?.responseText ? { text: e.responseText } : {}),
    ...(e?.serverResponseCode ? { code: e.serverResponseCode } : {}),
    ...(e?.reason !== undefined && !e?.responseStatus ? { bye: e.reason } : {}),
  });
  if (!refusal) return upstreamError(err, 'login', context);
  if (refusal.lockout) {
    return new ProxyError('UPSTREAM_THROTTLED', `upstream locks the account out: ${refusal.reason}`, {
      cause: err,
      context: { ...context, lockout: true, reason: refusal.reason },
      clientText: `${LOCKED_OUT_TEXT}; try again later`,
    });
  }
  return new ProxyError('UPSTREAM_THROTTLED', `upstream refused the connection: ${refusal.reason}`, {
    cause: err,
    context: { ...context, ...(refusal.retryAfterMs !== undefined ? { retryAfterMs: refusal.retryAfterMs } : {}) },
    clientText: 'The mail server refuses more connections of this account now; try again later',
  });
}

/** Maps whatever imapflow threw to a ProxyError the rest of the proxy can branch on. */
function upstreamError(err: unknown, action: string, context: Record<string, unknown> = {}): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as ImapflowError;
  if (e?.authenticationFailed) {
    return new ProxyError('UPSTREAM_AUTH_FAILED', `upstream refused the login (${action})`, { cause: err, context, clientText: e.responseText });
  }
  if (e?.responseStatus === 'NO' || e?.responseStatus === 'BAD') {
    const code = responseCode(e.response?.attributes) ?? (e.responseStatus === 'NO' && MISSING_MAILBOX.test(e.responseText ?? '') ? ['NONEXISTENT'] : undefined);
    return new ProxyError(e.responseStatus === 'NO' ? 'UPSTREAM_NO' : 'UPSTREAM_BAD', `upstream answered ${e.responseStatus} to ${action}`, {
      cause: err,
      context: { ...context, responseText: e.responseText },
      clientText: e.responseText,
      ...(code?.[0] ? { clientCode: code.join(' ') } : {}),
    });
  }
  return new ProxyError('UPSTREAM_UNAVAILABLE', `upstream connection failed during ${action}: ${e?.code ?? e?.message ?? 'unknown error'}`, {
    cause: err,
    context,
  });
}

/**
 * imapflow waits out a Microsoft 365 throttle hint itself, holding the connection's reader (up
 * to 150 s), before it fails the command: the account's backoff (backoff.ts) waits instead, with
 * jitter, for every connection of the account and within a client's patience. `seen` gets the
 * pause imapflow would have waited.
 */
function takeOverThrottleWaits(client: ImapFlow, seen: (delay: number) => void): void {
  (client as unknown as { throttleWait(delay: number): Promise<boolean> }).throttleWait = async (delay) => {
    seen(delay);
    return false;
  };
}

/**
 * What a connection has sent and been told of its selected folder so far: commands, untagged
 * EXISTS, EXPUNGE and VANISHED (not EARLIER: those answer a CHANGEDSINCE), and FETCH responses
 * (asked for or not). Two snapshots tell whether anything came between them.
 */
export interface MailboxActivity {
  commands: number;
  changes: number;
  fetches: number;
}

/**
 * Counts the untagged responses that tell of mailbox changes, whichever handler takes them (a
 * command's own or imapflow's): imapflow looks up a handler for every untagged response.
 */
function countMailboxUpdates(client: ImapFlow, activity: MailboxActivity): void {
  const flow = client as unknown as {
    getUntaggedHandler(command: string, attributes: unknown): unknown;
    normalizeUntaggedCommand(command: string, attributes: unknown): string;
  };
  const lookup = flow.getUntaggedHandler.bind(client);
  flow.getUntaggedHandler = (command, attributes) => {
    const name = flow.normalizeUntaggedCommand(command, attributes);
    if (name === 'FETCH') activity.fetches++;
    else if (name === 'EXISTS' || name === 'EXPUNGE' || (name === 'VANISHED' && !earlier(attributes))) activity.changes++;
    return lookup(command, attributes);
  };
}

/** VANISHED (EARLIER): its first attribute a list holding the atom EARLIER. */
function earlier(attributes: unknown): boolean {
  const first = Array.isArray(attributes) ? (attributes[0] as unknown) : undefined;
  return Array.isArray(first) && hasAtom(first as Token[], 'EARLIER');
}

/** The capabilities that announce the OAuth2 mechanisms (XOAUTH is XOAUTH2's older name). */
const OAUTH_CAPABILITIES = { XOAUTH2: ['AUTH=XOAUTH2', 'AUTH=XOAUTH'], OAUTHBEARER: ['AUTH=OAUTHBEARER'] } as const;

/**
 * imapflow picks the mechanism for a token from the server's capabilities, OAUTHBEARER whenever
 * announced: for a configured one, the others are hidden from it just before it authenticates
 * (it asks for the capabilities again after the login).
 */
function onlyMechanism(client: ImapFlow, mechanism: keyof typeof OAUTH_CAPABILITIES): void {
  const flow = client as unknown as { authenticate(): Promise<boolean>; capabilities: Map<string, unknown> };
  const authenticate = flow.authenticate.bind(client);
  flow.authenticate = () => {
    for (const [other, names] of Object.entries(OAUTH_CAPABILITIES)) {
      if (other !== mechanism) for (const name of names) flow.capabilities.delete(name);
    }
    return authenticate();
  };
}

export interface UpstreamConnectOptions {
  endpoint: UpstreamEndpoint;
  credentials: UpstreamLogin;
  logger: Logger;
  /** Abandons the connect, before its login where that is not sent yet (connection-pool.ts). */
  signal?: AbortSignal;
}

export interface FolderListing {
  entries: FolderListEntry[];
  statuses: Map<FolderPath, FolderStatus>;
}

export type FetchHandler = (fetch: UpstreamFetch) => Promise<void> | void;

/** What a watched folder's change was, where upstream said: messages that came or went, or the flags of the message at a sequence number (the watching session's). */
export type WatchedChange = 'messages' | { flagsAt: number };

export interface FlagUpdate {
  uid: number;
  flags: string[];
  modseq: string;
}

/** APPENDUID (RFC 4315): the new messages' UIDs, in the order they were appended. */
export interface AppendUid {
  uidValidity: number;
  uids: number[];
}

interface TaggedResponse {
  attributes?: Token[];
}

interface RawResponse {
  next(): void;
  response: TaggedResponse;
}

/**
 * What the connections of one account share (the pool attaches each, the watcher's too): its
 * pace, what its FETCH responses brought (the daily budget counts the message bytes), and the bytes its
 * connections read from and wrote to upstream (status).
 */
export class UpstreamTraffic {
  /** What the connections that closed read and wrote; those open are asked when counted. */
  private readonly spent: Traffic = { read: 0, written: 0 };
  private readonly open = new Set<UpstreamConnection>();

  constructor(
    readonly backoff: UpstreamBackoff,
    /** Told of every FETCH response the connections parse: its message bytes, and its ENVELOPE and BODYSTRUCTURE bytes. */
    readonly fetched: (messageBytes: number, structureBytes: number) => void,
  ) {}

  /** Bytes read from and written to upstream since the start by the connections attached. */
  get total(): Traffic {
    const total = { ...this.spent };
    for (const conn of this.open) {
      const { read, written } = conn.transferred;
      total.read += read;
      total.written += written;
    }
    return total;
  }

  /** Counts a connection's bytes in the account's (its attach() does). */
  join(conn: UpstreamConnection): void {
    if (this.open.has(conn)) return;
    this.open.add(conn);
    conn.once('close', () => {
      const { read, written } = conn.transferred;
      this.spent.read += read;
      this.spent.written += written;
      this.open.delete(conn);
    });
  }
}

/** The bytes of message data (BODY[...] sections) in a FETCH response. */
function sectionBytes(fetched: UpstreamFetch): number {
  let bytes = 0;
  for (const section of fetched.sections.values()) bytes += section?.length ?? 0;
  return bytes;
}

/**
 * One authenticated connection to the upstream server, used by one operation at a time
 * (the pool guarantees that). Everything imapflow-specific stays in this file.
 */
export class UpstreamConnection extends EventEmitter {
  private selected: { path: FolderPath; readOnly: boolean } | null = null;
  private closed = false;
  private traffic: UpstreamTraffic | undefined;
  /** Ends the throttle pauses commands wait in when the connection closes. */
  private readonly closing = new AbortController();
  /** A throttle pause imapflow saw in an answer that it does not hand on (a throttled IDLE). */
  private swallowedThrottle: number | undefined;
  /**
   * How long the operation on this connection may still wait for throttle pauses, all its
   * commands together (the pool sets it for each job: a client's is short); past it,
   * UPSTREAM_THROTTLED.
   */
  patience = Infinity;
  private readonly mailboxActivity: MailboxActivity = { commands: 0, changes: 0, fetches: 0 };

  private constructor(
    private readonly client: ImapFlow,
    private readonly log: Logger,
  ) {
    super();
    client.on('error', (err: unknown) => this.log.debug({ err }, 'upstream connection error'));
    client.on('close', () => {
      this.closed = true;
      this.selected = null;
      this.closing.abort();
      this.emit('close');
    });
    takeOverThrottleWaits(client, (delay) => {
      this.swallowedThrottle = delay;
    });
    countMailboxUpdates(client, this.mailboxActivity);
  }

  /** A snapshot of what this connection has sent and been told so far (MailboxActivity). */
  activity(): MailboxActivity {
    return { ...this.mailboxActivity };
  }

  /** Joins the connection to its account's traffic: the backoff its commands go through, the download and byte counts. */
  attach(traffic: UpstreamTraffic): void {
    this.traffic = traffic;
    traffic.join(this);
  }

  static async connect(options: UpstreamConnectOptions): Promise<UpstreamConnection> {
    return UpstreamConnection.attempt(options).connected;
  }

  /**
   * Connects and logs in, and says meanwhile whether the server has answered yet (sent its
   * greeting): a login that is slow because the server takes its time to refuse a password
   * (Dovecot waits 2 s) is not a server that cannot be reached. An access token upstream refuses
   * (revoked at the provider before its expiry) is replaced by a new one, and the login tried
   * once more with it.
   */
  static attempt(options: UpstreamConnectOptions): { connected: Promise<UpstreamConnection>; answered(): boolean } {
    const { endpoint, credentials } = options;
    const log = options.logger.child({ component: 'upstream', upstreamConn: nextConnectionId++ });
    let client: ImapFlow | undefined;
    let refusedBefore = false;
    const login = (auth: { user: string; pass: string } | { user: string; accessToken: string }): Promise<UpstreamConnection> => {
      const connecting = new ImapFlow({
        host: endpoint.host,
        port: endpoint.port,
        secure: endpoint.secure,
        auth,
        tls: endpoint.tls ?? { rejectUnauthorized: true },
        logger: imapflowLogger(log),
        disableAutoIdle: true,
        maxIdleTime: UPSTREAM_IDLE_RENEW_MS,
        qresync: true,
        disableIMAP4rev2: true,
        connectionTimeout: UPSTREAM_CONNECT_TIMEOUT_MS,
        greetingTimeout: UPSTREAM_CONNECT_TIMEOUT_MS,
        clientInfo: { name: 'imap-cache-proxy' },
      } as ConstructorParameters<typeof ImapFlow>[0]);
      client = connecting;
      takeOverThrottleWaits(connecting, () => undefined); // a throttled login is a refusal (connectError)
      if ('mechanism' in credentials && credentials.mechanism) onlyMechanism(connecting, credentials.mechanism);
      connecting.on('error', () => undefined); // reported through connect()'s rejection
      const { signal } = options;
      if (signal?.aborted) return Promise.reject(new ProxyError('UPSTREAM_UNAVAILABLE', 'the connect was abandoned'));
      const abandon = () => connecting.close();
      signal?.addEventListener('abort', abandon, { once: true });
      return connecting
        .connect()
        .then(
          () => new UpstreamConnection(connecting, log),
          (err: unknown) => {
            connecting.close();
            throw connectError(err, { host: endpoint.host, port: endpoint.port });
          },
        )
        .finally(() => signal?.removeEventListener('abort', abandon));
    };
    const tokenLogin = async (user: string, accessToken: (refused?: string) => Promise<string>): Promise<UpstreamConnection> => {
      const token = await accessToken();
      try {
        return await login({ user, accessToken: token });
      } catch (err) {
        if (!isProxyError(err, 'UPSTREAM_AUTH_FAILED')) throw err;
        refusedBefore = true;
        log.info('upstream refused the access token before its expiry: logging in once more with a new one');
        return login({ user, accessToken: await accessToken(token) });
      }
    };
    const connected = 'accessToken' in credentials ? tokenLogin(credentials.user, credentials.accessToken) : login(credentials);
    // imapflow sets greetingReceived when the greeting arrives; its types do not declare it
    return { connected, answered: () => refusedBefore || (client as unknown as { greetingReceived?: boolean } | undefined)?.greetingReceived === true };
  }

  get usable(): boolean {
    return !this.closed && this.client.usable;
  }

  /** Bytes read from and written to upstream on this connection so far. */
  get transferred(): Traffic {
    const { received, sent } = this.client.stats();
    return { read: received, written: sent };
  }

  /** TLS from the start (imaps) or after STARTTLS. */
  get encrypted(): boolean {
    return (this.client as unknown as { secureConnection: boolean }).secureConnection;
  }

  get selectedPath(): FolderPath | null {
    return this.selected?.path ?? null;
  }

  /** The selected folder's message count as upstream last reported it (EXISTS, EXPUNGE); undefined with none selected. */
  get messageCount(): number | undefined {
    return this.client.mailbox ? this.client.mailbox.exists : undefined;
  }

  get selectedReadOnly(): boolean {
    return this.selected?.readOnly ?? true;
  }

  /** What upstream announced after login. */
  get capabilities(): string[] {
    return [...this.client.capabilities.keys()];
  }

  hasCapability(name: string): boolean {
    return this.client.capabilities.has(name);
  }

  get qresyncEnabled(): boolean {
    return this.client.enabled.has('QRESYNC');
  }

  private get delimiter(): string {
    return (this.client.namespace as { delimiter?: string } | undefined)?.delimiter ?? '/';
  }

  /** SELECT or EXAMINE; always goes to the server, so the status is fresh. */
  async open(path: FolderPath, readOnly: boolean): Promise<FolderStatus> {
    const upstreamPath = toUpstreamPath(path, this.delimiter);
    // imapflow LISTs (and LSUBs) a folder it has not listed itself before selecting it: two round
    // trips per connection and folder. The proxy knows the folder; tell imapflow.
    const folders = (this.client as unknown as { folders: Map<string, object> }).folders;
    if (!folders.has(upstreamPath)) folders.set(upstreamPath, { path: upstreamPath, delimiter: this.delimiter, flags: new Set(), listed: true });
    try {
      const mailbox = await this.paced(readOnly ? 'EXAMINE' : 'SELECT', () => this.client.mailboxOpen(upstreamPath, { readOnly }));
      this.selected = { path, readOnly };
      return statusOf(mailbox);
    } catch (err) {
      this.selected = null;
      const mailboxMissing = (err as { mailboxMissing?: boolean }).mailboxMissing;
      const clientText = (err as { responseText?: string }).responseText;
      if (mailboxMissing) throw new ProxyError('NONEXISTENT', `no folder ${path} upstream`, { cause: err, context: { path }, ...(clientText ? { clientText } : {}) });
      throw upstreamError(err, 'SELECT', { path });
    }
  }

  /**
   * The status of the folder this connection has selected, brought up to date by a NOOP: one
   * quick round trip, where a SELECT again can cost upstream much more (Dovecot re-reads the
   * index of a 100,000-message maildir folder on every open once the session has LISTed: 100 ms).
   * Only the message count is current (`stale`), and the keyword list is left out. Undefined
   * when the selection is no use: the connection was lost at the NOOP (Dovecot ends a session
   * whose selected folder got a new UIDVALIDITY), or imapflow has no folder open any more.
   */
  async refreshSelected(): Promise<FolderStatus | undefined> {
    const mailbox = this.client.mailbox;
    if (!mailbox || !this.selected) return undefined;
    try {
      await this.paced('NOOP', () => this.client.noop());
    } catch (err) {
      const error = upstreamError(err, 'NOOP', { path: this.selected.path });
      if (error.code === 'UPSTREAM_UNAVAILABLE') return undefined;
      throw error;
    }
    if (!this.client.usable) return undefined;
    // imapflow keeps the FLAGS list of the SELECT: the sync learns new keywords from the messages
    const { keywords: _old, ...status } = statusOf(mailbox);
    return { ...status, stale: true };
  }

  /** LIST with special-use, subscriptions and (where upstream has LIST-STATUS) every folder's status. */
  async list(): Promise<FolderListing> {
    let listed: Awaited<ReturnType<ImapFlow['list']>>;
    try {
      listed = await this.paced('LIST', () =>
        this.client.list({
          statusQuery: { messages: true, uidNext: true, uidValidity: true, highestModseq: true, unseen: true },
        }),
      );
    } catch (err) {
      throw upstreamError(err, 'LIST');
    }
    const entries: FolderListEntry[] = [];
    const statuses = new Map<FolderPath, FolderStatus>();
    for (const entry of listed) {
      const path = toClientPath(entry.path, entry.delimiter);
      if (path === null) {
        this.log.warn({ folder: entry.path }, 'folder name contains "/", which clients of the proxy cannot address; skipped');
        continue;
      }
      const flags = [...entry.flags].filter((flag) => !/^\\(Subscribed)$/i.test(flag));
      entries.push({
        path,
        flags,
        specialUse: entry.specialUseSource === 'extension' && entry.specialUse ? entry.specialUse : null,
        subscribed: !!entry.subscribed,
      });
      const status = entry.status;
      if (status && status.uidValidity !== undefined && status.uidNext !== undefined && status.messages !== undefined) {
        statuses.set(path, {
          uidValidity: Number(status.uidValidity),
          uidNext: status.uidNext,
          messages: status.messages,
          highestModseq: status.highestModseq ? status.highestModseq.toString() : '0',
          ...(status.unseen !== undefined ? { unseen: status.unseen } : {}),
        });
      }
    }
    return { entries, statuses };
  }

  /**
   * STATUS, sent as is: imapflow's answers false for a NO, whatever upstream said. Of the folder
   * this connection has selected, after a NOOP: Dovecot answers STATUS of the selected folder
   * from what the session has seen, without what came or went since its last command.
   */
  async status(path: FolderPath): Promise<FolderStatus> {
    if (this.selected?.path === path) await this.runRaw('NOOP', []);
    const items = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', ...(this.hasCapability('CONDSTORE') ? ['HIGHESTMODSEQ'] : [])];
    let values = new Map<string, string>();
    await this.runRaw('STATUS', [this.mailboxArg(path), items.map(atom)], {
      STATUS: async (untagged: { attributes: Token[] }) => {
        values = statusValues(untagged.attributes[1]);
      },
    });
    const number = (item: string) => Number(values.get(item) ?? 0);
    return {
      uidValidity: number('UIDVALIDITY'),
      uidNext: number('UIDNEXT'),
      messages: number('MESSAGES'),
      highestModseq: values.get('HIGHESTMODSEQ') || '0',
      unseen: number('UNSEEN'),
    };
  }

  /**
   * UID FETCH with raw items. Each response is handed to onFetch as soon as it is parsed and
   * the next one is read only when onFetch resolves: backpressure from the cache to the socket.
   * VANISHED (EARLIER) answers of a CHANGEDSINCE ... VANISHED fetch go to onVanished.
   */
  async uidFetch(
    uidSet: string,
    items: Token[],
    onFetch: FetchHandler,
    options: { modifiers?: Token[]; onVanished?: (uidSet: string) => void } = {},
  ): Promise<void> {
    // imapflow swallows what an untagged handler throws: keep the first error, rethrow it after
    let handlerError: unknown;
    const args: Token[] = [sequence(uidSet), items];
    if (options.modifiers) args.push(options.modifiers);
    await this.runRaw('UID FETCH', args, {
      FETCH: async (untagged: { command: string; attributes: Token[] }) => {
        if (handlerError) return;
        try {
          const fetched = parseUpstreamFetch(untagged);
          this.traffic?.fetched(sectionBytes(fetched), (fetched.envelope?.length ?? 0) + (fetched.bodystructure?.length ?? 0));
          await onFetch(fetched);
        } catch (err) {
          handlerError = err;
        }
      },
      VANISHED: async (untagged: { attributes: Token[] }) => {
        // * VANISHED (EARLIER) 1:3,7
        const uids = tokenString(untagged.attributes[untagged.attributes.length - 1]);
        if (uids && options.onVanished) options.onVanished(uids);
      },
    });
    if (handlerError) throw handlerError;
  }

  /**
   * UID STORE; returns the flags and modseq upstream reports for each changed message (it
   * answers with FETCH responses), and with UNCHANGEDSINCE the UIDs it did not change (MODIFIED).
   */
  async uidStore(
    uidSet: string,
    action: '+FLAGS' | '-FLAGS' | 'FLAGS',
    flags: readonly string[],
    unchangedSince?: string,
  ): Promise<{ updates: FlagUpdate[]; modified: number[] }> {
    const updates: FlagUpdate[] = [];
    const args: Token[] = [sequence(uidSet)];
    if (unchangedSince !== undefined) args.push([atom('UNCHANGEDSINCE'), atom(unchangedSince)]);
    args.push(atom(action), flags.map(atom));
    const tagged = await this.runRaw('UID STORE', args, {
      FETCH: async (untagged: { command: string; attributes: Token[] }) => {
        const fetched = parseUpstreamFetch(untagged);
        if (fetched.flags) updates.push({ uid: fetched.uid, flags: fetched.flags, modseq: fetched.modseq ?? '0' });
      },
    });
    const code = responseCode(tagged.attributes);
    const modified = code?.[0] === 'MODIFIED' ? expandUidSet(code[1] as string, MAX_REPORTED_UIDS) : [];
    return { updates, modified };
  }

  /** UID COPY; COPYUID when upstream gives it (UIDPLUS). */
  async uidCopy(uidSet: string, destination: FolderPath, count: number): Promise<CopyUid | undefined> {
    const tagged = await this.runRaw('UID COPY', [sequence(uidSet), this.mailboxArg(destination)]);
    return parseCopyUid(responseCode(tagged.attributes), count);
  }

  /**
   * UID MOVE (RFC 6851): COPYUID comes in an untagged OK before the expunges, which arrive as
   * VANISHED (QRESYNC) or EXPUNGE; returns the COPYUID and the UIDs upstream reported gone.
   */
  async uidMove(uidSet: string, destination: FolderPath, count: number): Promise<{ copyUid?: CopyUid; vanished?: number[] }> {
    let copyUid: CopyUid | undefined;
    const vanished: number[] = [];
    const tagged = await this.runRaw('UID MOVE', [sequence(uidSet), this.mailboxArg(destination)], {
      OK: async (untagged: { attributes?: Token[] }) => {
        copyUid ??= parseCopyUid(responseCode(untagged.attributes), count);
      },
      VANISHED: async (untagged: { attributes: Token[] }) => {
        vanished.push(...expandUidSet(tokenString(untagged.attributes[untagged.attributes.length - 1]) ?? '', count));
      },
    });
    copyUid ??= parseCopyUid(responseCode(tagged.attributes), count);
    return { ...(copyUid ? { copyUid } : {}), ...(this.qresyncEnabled ? { vanished } : {}) };
  }

  /** EXPUNGE, or UID EXPUNGE of a set; the UIDs upstream reported gone when it says (QRESYNC). */
  async expunge(uidSet?: string): Promise<number[] | undefined> {
    const vanished: number[] = [];
    await this.runRaw(uidSet ? 'UID EXPUNGE' : 'EXPUNGE', uidSet ? [sequence(uidSet)] : [], {
      VANISHED: async (untagged: { attributes: Token[] }) => {
        vanished.push(...expandUidSet(tokenString(untagged.attributes[untagged.attributes.length - 1]) ?? '', MAX_REPORTED_UIDS));
      },
    });
    return this.qresyncEnabled ? vanished : undefined;
  }

  /**
   * APPEND of `messages`, their literals streamed (streamed-append.ts): one command, a
   * MULTIAPPEND when there are several (the caller checks that upstream has it). APPENDUID when
   * upstream gives it.
   */
  async append(path: FolderPath, messages: readonly OutgoingMessage[]): Promise<AppendUid | undefined> {
    const client = this.client as unknown as {
      writeSocket: Writable;
      exec(command: string, attributes: Token[], options: { onPlusTag(): void; onSend?: () => void }): Promise<RawResponse>;
    };
    // one channel per attempt: sent again after a throttle answer only if no literal had gone yet
    // (upstream had not asked for one, and none was sent unasked)
    const channel = (answered: () => void): RawChannel => ({
      exec: async (command, attributes, onContinuation, onSent) => {
        const onPlusTag = () => (answered(), onContinuation());
        const response = await client.exec(command, attributes, onSent ? { onPlusTag, onSend: () => (answered(), onSent()) } : { onPlusTag });
        response.next();
        return response.response;
      },
      socket: () => client.writeSocket,
      abort: () => this.client.close(),
      literal8: this.hasCapability('BINARY'),
      nonSyncMax: this.hasCapability('LITERAL+') ? NON_SYNC_APPEND_MAX : this.hasCapability('LITERAL-') ? LITERAL_MINUS_MAX : 0,
    });
    let answer: TaggedResponse;
    try {
      answer = await this.paced('APPEND', (answered) => streamedAppend(channel(answered), this.mailboxArg(path), messages));
    } catch (err) {
      throw upstreamError(err, 'APPEND', { path });
    }
    const code = responseCode(answer.attributes);
    return code?.[0] === 'APPENDUID' ? { uidValidity: Number(code[1]), uids: expandUidSet(code[2] ?? '', MAX_REPORTED_UIDS) } : undefined;
  }

  /** CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE of one folder; RENAME of one to another. */
  async folderCommand(command: 'CREATE' | 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE', path: FolderPath): Promise<void> {
    if (command === 'DELETE' && this.selected?.path === path) this.selected = null;
    await this.runRaw(command, [this.mailboxArg(path)]);
  }

  /** CREATE with special-use attributes (RFC 6154 3: CREATE-SPECIAL-USE, where upstream has it). */
  async createSpecialUse(path: FolderPath, use: readonly string[]): Promise<void> {
    await this.runRaw('CREATE', [this.mailboxArg(path), [atom('USE'), use.map(atom)]]);
  }

  async rename(from: FolderPath, to: FolderPath): Promise<void> {
    if (this.selected?.path === from) this.selected = null;
    await this.runRaw('RENAME', [this.mailboxArg(from), this.mailboxArg(to)]);
  }

  /** Upstream pushes changes of every folder (NOTIFY), not only of the selected one (IDLE). */
  get notifies(): boolean {
    return this.hasCapability('NOTIFY');
  }

  /**
   * Watches upstream until the connection ends: INBOX is selected and IDLE reports its changes;
   * where upstream has NOTIFY (RFC 5465) the changes of every other folder come as STATUS too.
   * `onChange` gets the folder, when upstream said its new status, and what changed when that is
   * known: messages that came or went, or the flags of the message at a sequence number.
   */
  async watch(onChange: (path: FolderPath, status?: FolderStatus, what?: WatchedChange) => void, onWatching: () => void): Promise<void> {
    await this.open('INBOX', true);
    const arrivedOrWent = () => onChange('INBOX', undefined, 'messages');
    const flagged = (update: { seq: number }) => onChange('INBOX', undefined, { flagsAt: update.seq });
    const events = [['exists', arrivedOrWent], ['expunge', arrivedOrWent], ['flags', flagged]] as const;
    for (const [event, listener] of events) this.client.on(event, listener);
    const handlers = (this.client as unknown as { untaggedHandlers: Record<string, unknown> }).untaggedHandlers;
    try {
      if (this.notifies) {
        // unsolicited STATUS has no handler in imapflow: this connection is only for watching
        handlers['STATUS'] = async (untagged: { attributes?: Token[] }) => {
          const change = this.parseStatus(untagged.attributes ?? []);
          if (change) onChange(change.path, change.status);
        };
        const events: Token[] = ['MessageNew', 'MessageExpunge', 'FlagChange'].map(atom);
        await this.runRaw('NOTIFY', [atom('SET'), [atom('SELECTED'), events], [atom('PERSONAL'), events]]);
      }
      onWatching();
      while (this.usable) {
        await this.traffic?.backoff.turn(Infinity, 'IDLE', this.closing.signal);
        const started = Date.now();
        await this.client.idle();
        // imapflow ends a throttled IDLE quietly: the account pauses all the same
        const throttled = this.swallowedThrottle;
        this.swallowedThrottle = undefined;
        if (throttled !== undefined) this.traffic?.backoff.throttled(throttled, 'IDLE');
        // idle() returns at once when it cannot idle: do not spin
        if (Date.now() - started < IDLE_RETRY_MS) await new Promise((resolve) => setTimeout(resolve, IDLE_RETRY_MS));
      }
    } finally {
      for (const [event, listener] of events) this.client.off(event, listener);
      delete handlers['STATUS'];
    }
  }

  /** `* STATUS folder (MESSAGES n UIDNEXT n ...)`; the status only when it has every item. */
  private parseStatus(attributes: Token[]): { path: FolderPath; status?: FolderStatus } | undefined {
    const name = tokenString(attributes[0]);
    if (name === null || !Array.isArray(attributes[1])) return undefined;
    const path = this.clientPath(name);
    if (path === null) return undefined;
    const values = statusValues(attributes[1]);
    const [messages, uidNext, uidValidity] = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY'].map((key) => values.get(key));
    if (messages === undefined || uidNext === undefined || uidValidity === undefined) return { path };
    return {
      path,
      status: { messages: Number(messages), uidNext: Number(uidNext), uidValidity: Number(uidValidity), highestModseq: values.get('HIGHESTMODSEQ') ?? '0' },
    };
  }

  /**
   * The folders subscribed upstream (LSUB): imapflow's listing counts INBOX as subscribed
   * whatever upstream says, and every folder when upstream reports no subscriptions.
   */
  async subscribed(): Promise<FolderPath[]> {
    const paths: FolderPath[] = [];
    await this.runRaw('LSUB', [{ type: 'STRING', value: '' }, { type: 'STRING', value: '*' }], {
      LSUB: async (untagged: { attributes: Token[] }) => {
        const name = tokenString(untagged.attributes[2]);
        const path = name === null ? null : this.clientPath(name);
        if (path !== null) paths.push(path);
      },
    });
    return paths;
  }

  /** A folder name upstream sent, as clients of the proxy name it; null when they cannot. */
  private clientPath(name: string): FolderPath | null {
    return toClientPath(normalizePath(this.client, decodePath(this.client, name)), this.delimiter);
  }

  /** A folder name as upstream spells it (its separator; modified UTF-7 unless UTF8=ACCEPT). */
  private mailboxArg(path: FolderPath): Token {
    return { type: 'STRING', value: encodePath(this.client, toUpstreamPath(path, this.delimiter)) };
  }

  /** UID SEARCH with a compiled query; returns the matching UIDs. */
  async uidSearch(query: readonly Token[]): Promise<number[]> {
    const uids: number[] = [];
    await this.runRaw('UID SEARCH', [...query], {
      SEARCH: async (untagged: { attributes?: Token[]; numbers?: number[] }) => {
        if (untagged.numbers) uids.push(...untagged.numbers);
        else
          for (const token of untagged.attributes ?? []) {
            const n = Number(tokenString(token));
            if (Number.isInteger(n) && n > 0) uids.push(n);
          }
      },
    });
    return uids;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await Promise.race([this.client.logout(), new Promise((resolve) => setTimeout(resolve, UPSTREAM_LOGOUT_WAIT_MS).unref())]);
    } catch {
      // already gone
    } finally {
      this.client.close();
    }
  }

  /** Runs a raw command; returns its tagged response. NO and BAD become ProxyErrors with upstream's text. */
  private async runRaw(command: string, attributes: Token[], untagged: Record<string, unknown> = {}): Promise<TaggedResponse> {
    try {
      return await this.paced(
        command,
        async (answered) => {
          // an untagged response for the command means it ran: it is not sent again
          const counted = Object.fromEntries(
            Object.entries(untagged).map(([name, handler]) => [name, (...args: unknown[]) => (answered(), (handler as (...a: unknown[]) => unknown)(...args))]),
          );
          const response = (await this.exec(command, attributes, counted)) as RawResponse;
          response.next();
          return response.response;
        },
        (tagged) => responseText(tagged.attributes),
      );
    } catch (err) {
      throw upstreamError(err, command, { path: this.selectedPath });
    }
  }

  /**
   * Sends a command at the account's pace (backoff.ts): after the pause upstream asked for, if
   * any. A throttle answer pauses the account and the command is sent again after the pause,
   * unless part of its answer had come (`answered`: it ran) or the pauses would take longer than
   * `patience` (UPSTREAM_THROTTLED). A tagged OK that says [THROTTLED] (Gmail) pauses the account too.
   */
  private async paced<T>(action: string, send: (answered: () => void) => Promise<T>, okText?: (result: T) => string): Promise<T> {
    const backoff = this.traffic?.backoff;
    if (!backoff) return send(() => undefined);
    for (;;) {
      // what the job waited is spent for its later commands too
      this.patience -= await backoff.turn(this.patience, action, this.closing.signal);
      let ran = false;
      this.swallowedThrottle = undefined;
      this.mailboxActivity.commands++;
      try {
        const result = await send(() => (ran = true));
        const okHint = okText ? throttleHint(okText(result)) : undefined;
        if (okHint === undefined) backoff.succeeded();
        else backoff.throttled(okHint, action);
        return result;
      } catch (err) {
        const lockout = lockoutOf(err);
        if (lockout !== undefined) throw lockedOutError(backoff.lockedOut(lockout, action), lockout, action);
        const hint = throttleOf(err);
        if (hint === undefined) throw err;
        backoff.throttled(hint, action);
        if (ran) throw throttledError(backoff.pausedMs, action);
      }
    }
  }

  /** imapflow's exec is internal API: it is the only way to send raw FETCH items. */
  private exec(command: string, attributes: Token[], untagged: Record<string, unknown>): Promise<unknown> {
    const client = this.client as unknown as {
      exec(command: string, attributes: Token[], options: { untagged: Record<string, unknown> }): Promise<unknown>;
    };
    return client.exec(command, attributes, { untagged });
  }
}

/** A folder's status as imapflow keeps it for the selected folder. */
function statusOf(mailbox: MailboxObject): FolderStatus {
  return {
    uidValidity: Number(mailbox.uidValidity),
    uidNext: mailbox.uidNext,
    messages: mailbox.exists,
    highestModseq: mailbox.highestModseq && !mailbox.noModseq ? mailbox.highestModseq.toString() : '0',
    keywords: [...(mailbox.flags ?? [])].filter((flag) => !flag.startsWith('\\')),
  };
}
