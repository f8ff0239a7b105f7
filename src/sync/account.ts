import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CacheStore } from '../cache/cache-store.js';
import { RECORD_VERSION } from '../cache/records.js';
import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import type { AccountId, Credentials, FolderListEntry, FolderPath, FolderStatus } from '../model/types.js';
import { ConnectionPool, Priority } from '../upstream/connection-pool.js';
import type { AccountContext } from './account-context.js';
import { Folder } from './folder.js';
import type { FreshBodies } from './fresh-bodies.js';

/** Per-process key: the password check kept in memory is useless outside this process. */
const PROCESS_KEY = randomBytes(32);
const passwordDigest = (pass: string) => createHmac('sha256', PROCESS_KEY).update(pass, 'utf8').digest();

/** A folder list this recent is served without asking upstream again. */
const LIST_FRESH_MS = 2_000;

export function normalizePath(path: FolderPath): FolderPath {
  return /^inbox(\/|$)/i.test(path) ? `INBOX${path.slice(5)}` : path;
}

/**
 * One user on the upstream server, shared by all of that user's client sessions: the upstream
 * connection pool, the folder list and the folders.
 */
export class Account implements AccountContext {
  readonly pool: ConnectionPool;
  readonly log: Logger;
  private readonly folders = new Map<FolderPath, Folder>();
  private listing: { entries: FolderListEntry[]; at: number } | undefined;
  private listRefresh: Promise<FolderListEntry[]> | undefined;
  private digest: Buffer;

  constructor(
    readonly id: AccountId,
    readonly user: string,
    readonly store: CacheStore,
    readonly freshBodies: FreshBodies,
    pool: (log: Logger) => ConnectionPool,
    credentials: Credentials,
    log: Logger,
  ) {
    this.log = log.child({ account: id });
    this.pool = pool(this.log);
    this.digest = passwordDigest(credentials.pass);
  }

  /** True when this password is the one upstream last accepted for this account. */
  hasPassword(pass: string): boolean {
    return timingSafeEqual(this.digest, passwordDigest(pass));
  }

  acceptedPassword(credentials: Credentials): void {
    this.digest = passwordDigest(credentials.pass);
    this.pool.updateCredentials(credentials);
  }

  async saveRecord(upstream: string): Promise<void> {
    if (await this.store.getAccount(this.id)) return;
    await this.store.putAccount(this.id, { v: RECORD_VERSION, upstream, user: this.user, createdAt: Date.now() });
  }

  folder(path: FolderPath): Folder {
    const normalized = normalizePath(path);
    let folder = this.folders.get(normalized);
    if (!folder) {
      folder = new Folder(this, normalized);
      this.folders.set(normalized, folder);
    }
    return folder;
  }

  /**
   * The folder list, from upstream when reachable (one LIST that also brings every folder's
   * status where upstream has LIST-STATUS), else from the cache.
   */
  async list(): Promise<FolderListEntry[]> {
    if (this.listing && Date.now() - this.listing.at < LIST_FRESH_MS) return this.listing.entries;
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
      await this.store.putFolderList(this.id, { v: RECORD_VERSION, fetchedAt: Date.now(), folders: entries });
      return entries;
    } catch (err) {
      const cached = isProxyError(err, 'UPSTREAM_UNAVAILABLE') ? await this.store.getFolderList(this.id) : undefined;
      if (!cached) throw err;
      this.log.warn({ err }, 'upstream unreachable; LIST answered from the cache');
      return cached.folders;
    }
  }

  /** STATUS: a status upstream gave in the last seconds, else upstream's answer now. */
  async status(path: FolderPath): Promise<FolderStatus> {
    const folder = this.folder(path);
    const recent = folder.recentStatus();
    if (recent && recent.unseen !== undefined) return recent;
    const status = await this.pool.run({ priority: Priority.Client }, (conn) => conn.status(folder.path));
    folder.noteStatus(status);
    return status;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
