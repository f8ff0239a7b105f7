import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { CacheStore } from '../cache/cache-store.js';
import { RECORD_VERSION } from '../cache/records.js';
import { upstreamResponseParsed } from '../cache/gc-pacer.js';
import type { Logger } from '../log.js';
import { isUpstreamOut } from '../model/errors.js';
import { normalizePath } from '../model/folder-path.js';
import type { AccountId, FolderListEntry, FolderPath, FolderStatus, UpstreamEndpoint, UpstreamLogin } from '../model/types.js';
import { ConnectionPool, Priority } from '../upstream/connection-pool.js';
import { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { AccountWatcher } from './account-watcher.js';
import { Folder } from './folder.js';
import type { SyncScope } from './sync-scope.js';
import { Prefetcher, type PrefetchOptions } from './prefetch.js';
import { ClientActivity } from './client-activity.js';
import { DownloadBudget } from './download-budget.js';
import { ServedCounter } from './served-counter.js';
import type { FolderChanges } from './update-journal.js';
import type { FreshBodies } from './fresh-bodies.js';
import { LIST_FRESH_MS } from '../model/limits.js';

/** A change of the folder list (NOTIFY's MailboxName): made through the proxy, or found by a LIST upstream. */
export type FolderListChange = { kind: 'created' | 'deleted'; path: FolderPath } | { kind: 'renamed'; from: FolderPath; path: FolderPath };

/** Per-process key: the password check kept in memory is useless outside this process. */
const PROCESS_KEY = randomBytes(32);
const passwordDigest = (pass: string) => createHmac('sha256', PROCESS_KEY).update(pass, 'utf8').digest();


export interface AccountOptions {
  id: AccountId;
  /** The name clients log in with (the upstream user name unless configured otherwise). */
  name: string;
  endpoint: UpstreamEndpoint;
  credentials: UpstreamLogin;
  /** The password the client logged in with: upstream's, or an OAuth2 account's local password. */
  password: string;
  store: CacheStore;
  freshBodies: FreshBodies;
  /** Upstream connections for client and background work (the watcher has one more). */
  poolSize: number;
  /** Without NOTIFY upstream: how often cached folders no client has selected are polled (AccountWatcher). */
  pollIntervalMs: number;
  /** The background sync's daily download budget in bytes; none: no limit. */
  prefetchBudget?: number;
  log: Logger;
  /** The background sync, or none (prefetch off). */
  prefetch?: PrefetchOptions;
}

/**
 * One user on the upstream server, shared by all of that user's client sessions: the upstream
 * connection pool, the folder list and the folders. Emits 'updated' (path) when a folder's
 * journal grew and 'dropped' (path) when a folder's cache generation ended (UIDVALIDITY
 * changed, folder deleted or renamed): sessions that have it selected must leave it. For NOTIFY
 * (RFC 5465): 'changed' (path) whenever the proxy learns that a folder's messages may have
 * changed (its journal grew, a write through the proxy, a report of the watcher; one change may
 * be told more than once), 'listChanged' (FolderListChange) and 'subscriptionChanged' (path,
 * subscribed).
 */
export class Account extends EventEmitter implements AccountContext {
  readonly id: AccountId;
  /** The name clients log in with. */
  readonly name: string;
  /** The user name upstream. */
  readonly user: string;
  /** The upstream server's URL. */
  readonly upstream: string;
  readonly store: CacheStore;
  readonly freshBodies: FreshBodies;
  readonly pool: ConnectionPool;
  readonly watcher: AccountWatcher;
  readonly prefetcher: Prefetcher | undefined;
  readonly log: Logger;
  /** Where the bodies clients fetched came from. */
  readonly served = new ServedCounter();
  readonly clients = new ClientActivity();
  /** Message bytes downloaded today, against the background sync's daily budget. */
  readonly downloads: DownloadBudget;
  private readonly folders = new Map<FolderPath, Folder>();
  private listing: { entries: FolderListEntry[]; at: number } | undefined;
  private listRefresh: Promise<FolderListEntry[]> | undefined;
  /** The folders upstream listed last, with the proxy's own changes since: what a new listing is compared with. */
  private knownPaths: Set<FolderPath> | undefined;
  /** Keyed digest of the password upstream last accepted; none once upstream refused it. */
  private digest: Buffer | undefined;
  /** The credentials of the last login upstream accepted: every new upstream connection uses them. */
  private credentials: UpstreamLogin;

  constructor(options: AccountOptions) {
    super();
    this.setMaxListeners(0); // one listener per client session
    const { endpoint } = options;
    this.id = options.id;
    this.name = options.name;
    this.user = options.credentials.user;
    this.upstream = endpoint.url;
    this.store = options.store;
    this.freshBodies = options.freshBodies;
    this.credentials = options.credentials;
    this.log = options.log.child({ account: this.id });
    this.downloads = new DownloadBudget({
      id: this.id,
      ledger: this.store,
      ...(options.prefetchBudget !== undefined ? { limit: options.prefetchBudget } : {}),
      log: this.log,
    });
    const connect = (signal?: AbortSignal) => UpstreamConnection.connect({ endpoint, credentials: this.credentials, logger: this.log, ...(signal ? { signal } : {}) });
    this.pool = new ConnectionPool(connect, options.poolSize, this.log, (messageBytes, structureBytes) => {
      this.downloads.note(messageBytes);
      upstreamResponseParsed(messageBytes + structureBytes);
    });
    this.watcher = new AccountWatcher(this, { pollIntervalMs: options.pollIntervalMs });
    this.pool.on('online', () => {
      this.watcher.kick();
      this.prefetcher?.start();
      this.prefetcher?.resume();
    });
    this.prefetcher = options.prefetch ? new Prefetcher(this, options.prefetch, this.log.child({ component: 'prefetch' })) : undefined;
    this.digest = passwordDigest(options.password);
  }

  /** True when this password is the one upstream last accepted for this account. */
  /** What upstream announced at the last login (stored: known offline too). */
  upstreamCapabilities: ReadonlySet<string> = new Set();

  hasPassword(pass: string): boolean {
    return this.digest !== undefined && timingSafeEqual(this.digest, passwordDigest(pass));
  }

  /** Upstream refused this password: a login with it is no longer taken on the word of a live connection. */
  passwordRefused(pass: string): void {
    if (this.hasPassword(pass)) this.digest = undefined;
  }

  acceptedPassword(pass: string, credentials: UpstreamLogin): void {
    this.digest = passwordDigest(pass);
    this.credentials = credentials;
  }

  folder(path: FolderPath): Folder {
    const normalized = normalizePath(path);
    let folder = this.folders.get(normalized);
    if (!folder) {
      const created = new Folder(this, normalized);
      created.on('updated', (changes: FolderChanges) => {
        this.emit('updated', created.path);
        this.emit('changed', created.path);
        if (changes.added.length) this.prefetcher?.folderGrew(created.path);
      });
      created.on('changed', () => this.emit('changed', created.path));
      created.on('reset', () => this.emit('dropped', created.path));
      created.on('gone', () => this.emit('dropped', created.path));
      this.folders.set(normalized, created);
      folder = created;
    }
    return folder;
  }

  /**
   * The folder list, from upstream when reachable (one LIST that also brings every folder's
   * status where upstream has LIST-STATUS), else from the cache; a listing younger than
   * `maxAgeMs` is reused.
   */
  async list(maxAgeMs = LIST_FRESH_MS): Promise<FolderListEntry[]> {
    if (this.listing && Date.now() - this.listing.at < maxAgeMs) return this.listing.entries;
    this.listRefresh ??= this.refreshList().finally(() => {
      this.listRefresh = undefined;
    });
    return this.listRefresh;
  }

  private async refreshList(): Promise<FolderListEntry[]> {
    try {
      const { entries, statuses } = await this.pool.run({ priority: Priority.Client }, (conn) => conn.list());
      for (const [path, status] of statuses) this.folder(path).noteStatus(status);
      this.listing = { entries, at: Date.now() };
      this.compareListing(entries);
      await this.store.putFolderList(this.id, { v: RECORD_VERSION, fetchedAt: Date.now(), folders: entries });
      return entries;
    } catch (err) {
      const cached = isUpstreamOut(err) ? await this.store.getFolderList(this.id) : undefined;
      if (!cached) throw err;
      this.log.warn({ err }, 'upstream unreachable; LIST answered from the cache');
      return cached.folders;
    }
  }

  /** Tells of the folders that appeared or went upstream since the last listing (not on the first). */
  private compareListing(entries: readonly FolderListEntry[]): void {
    const previous = this.knownPaths;
    this.knownPaths = new Set(entries.map((entry) => entry.path));
    if (!previous) return;
    for (const path of this.knownPaths) if (!previous.has(path)) this.emit('listChanged', { kind: 'created', path } satisfies FolderListChange);
    for (const path of previous) if (!this.knownPaths.has(path)) this.emit('listChanged', { kind: 'deleted', path } satisfies FolderListChange);
  }

  /** A change of the folder list made through the proxy: told now, and not again by the next listing. */
  private listChanged(change: FolderListChange): void {
    this.listing = undefined;
    if (change.kind === 'renamed') this.knownPaths?.delete(change.from);
    if (change.kind === 'deleted') this.knownPaths?.delete(change.path);
    else this.knownPaths?.add(change.path);
    this.emit('listChanged', change);
  }

  /** The admin cleared the cache of these folders (or of the whole account). */
  cacheCleared(paths: readonly FolderPath[], wholeAccount: boolean): void {
    for (const path of paths) this.folders.get(path)?.cacheCleared();
    if (wholeAccount) this.listing = undefined;
  }

  /** Cache verify --repair dropped broken sections: background sync fetches them again. */
  sectionsDropped(): void {
    for (const [path, folder] of this.folders) {
      folder.generation?.bodies.recount();
      this.prefetcher?.folderGrew(path);
    }
  }

  /** Upstream reports a change made elsewhere (see AccountWatcher). */
  folderChanged(path: FolderPath, status: FolderStatus | undefined, scope: SyncScope): void {
    this.folder(path).invalidate(status, scope);
  }

  /** The folders whose cache is loaded: those the background sync walked or clients opened. */
  cachedFolders(): FolderPath[] {
    return [...this.folders.values()].filter((folder) => folder.generation).map((folder) => folder.path);
  }

  pollStatus(path: FolderPath): Promise<FolderStatus> {
    return this.pool.run({ priority: Priority.ReadAhead }, (conn) => conn.status(path));
  }

  connectDedicated(): Promise<UpstreamConnection> {
    return this.pool.connectDedicated();
  }

  /** CREATE upstream; `use`: the special-use attributes the folder is to have (CREATE-SPECIAL-USE). */
  async createFolder(path: FolderPath, use: readonly string[] = []): Promise<void> {
    const normalized = normalizePath(path);
    await this.pool.run({ priority: Priority.Client }, (conn) => (use.length ? conn.createSpecialUse(normalized, use) : conn.folderCommand('CREATE', normalized)));
    this.folder(path).markCreated();
    this.listChanged({ kind: 'created', path: normalized });
  }

  /** DELETE upstream; the folder's cache goes, and sessions that have it selected are told. */
  async deleteFolder(path: FolderPath): Promise<void> {
    const folder = this.folder(path);
    this.pool.leaveFolder(folder.path);
    await this.pool.run({ priority: Priority.Client }, (conn) => conn.folderCommand('DELETE', folder.path));
    await folder.drop();
    this.forgetFolder(folder);
    this.listChanged({ kind: 'deleted', path: folder.path });
  }

  /** RENAME upstream; the cache of the folder and its subfolders follows under the new names. */
  async renameFolder(from: FolderPath, to: FolderPath): Promise<void> {
    const source = normalizePath(from);
    const target = normalizePath(to);
    // the subfolders move too: known from a listing, which NOTIFY's MailboxName needs before
    if (!this.knownPaths && this.listenerCount('listChanged') > 0) await this.list();
    this.pool.leaveFolder(source);
    await this.pool.run({ priority: Priority.Client }, (conn) => conn.rename(source, target));
    const moved = (path: FolderPath) => path === source || path.startsWith(`${source}/`);
    const movedFolders = [...this.folders.values()].filter((folder) => moved(folder.path));
    // their syncs under way write nothing more under the old names once the records move
    await Promise.all(movedFolders.map((folder) => folder.retire()));
    await this.store.renameFolders(this.id, source, target);
    for (const folder of movedFolders) this.forgetFolder(folder);
    // the subfolders are renamed too (RFC 3501 6.3.5): each is told
    const renamed = new Set([source, ...[...(this.knownPaths ?? [])].filter(moved)]);
    for (const from of renamed) this.listChanged({ kind: 'renamed', from, path: target + from.slice(source.length) });
  }

  /** The folders subscribed upstream; from the cached listing while upstream is out of reach. */
  async subscriptions(): Promise<FolderPath[]> {
    try {
      return await this.pool.run({ priority: Priority.Client }, (conn) => conn.subscribed());
    } catch (err) {
      if (!isUpstreamOut(err)) throw err;
      return (await this.list()).filter((entry) => entry.subscribed).map((entry) => entry.path);
    }
  }

  async subscribe(path: FolderPath, subscribed: boolean): Promise<void> {
    const normalized = normalizePath(path);
    await this.pool.run({ priority: Priority.Client }, (conn) => conn.folderCommand(subscribed ? 'SUBSCRIBE' : 'UNSUBSCRIBE', normalized));
    this.listing = undefined;
    this.emit('subscriptionChanged', normalized, subscribed);
  }

  /** A folder object that no longer stands for an upstream folder: sessions on it are dropped. */
  private forgetFolder(folder: Folder): void {
    this.folders.delete(folder.path);
    folder.emit('gone');
  }

  /**
   * STATUS: a status upstream gave in the last seconds, else upstream's answer now, else (upstream
   * unreachable) what the cache knows.
   */
  async status(path: FolderPath): Promise<FolderStatus> {
    const folder = this.folder(path);
    const recent = folder.recentStatus();
    if (recent && recent.unseen !== undefined) return recent;
    try {
      const status = await this.pool.run({ priority: Priority.Client }, (conn) => conn.status(folder.path));
      folder.noteStatus(status);
      return status;
    } catch (err) {
      const cached = isUpstreamOut(err) ? await folder.cachedStatus() : undefined;
      if (!cached) throw err;
      return cached;
    }
  }

  async close(): Promise<void> {
    this.prefetcher?.stop();
    await this.watcher.stop();
    await this.pool.close();
    await this.downloads.close();
  }
}
