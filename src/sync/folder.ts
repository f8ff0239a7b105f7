import { EventEmitter } from 'node:events';
import type { FolderRecord } from '../cache/cache-store.js';
import { RECORD_VERSION } from '../cache/records.js';
import { FULL_BODY, HEADER_BLOCK } from '../cache/keys.js';
import { isProxyError, ProxyError } from '../model/errors.js';
import { SEARCH_HEADER_MAX, STATUS_FRESH_MS } from '../model/limits.js';
import type { FolderPath, FolderStatus, MessageMeta, Uid } from '../model/types.js';
import type { Token } from '../upstream/imap-tokens.js';
import { searchLocally } from './local-search.js';
import { indexOfUid, toSequenceSet } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import type { CopyUid } from '../upstream/response-codes.js';
import type { FlagUpdate } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { BodyFetcher } from './body-fetcher.js';
import { syncFolder } from './folder-sync.js';
import { ItemFetcher } from './item-fetcher.js';
import { UpdateJournal, type FolderChanges } from './update-journal.js';

/** A folder's state as a SELECT presents it. */
export interface FolderView {
  fid: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: string;
  /** Where a session's view starts in the folder's update journal. */
  modifyIndex: number;
  keywords: string[];
  uids: Uid[];
}

/**
 * One folder of one account: its cache record, its UIDs in memory, the components that fill its
 * cache, and the journal of recent changes for the sessions that have it selected. Emits
 * 'updated' when the journal grew and 'reset' when a new UIDVALIDITY dropped the cached generation.
 */
export class Folder extends EventEmitter {
  record: FolderRecord | undefined;
  /** Cached UIDs, ascending. Replaced, never mutated in place: views handed out stay valid. */
  uids: Uid[] = [];
  readonly bodies: BodyFetcher;
  readonly items: ItemFetcher;
  readonly journal = new UpdateJournal();
  private loading: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  private lastStatus: { status: FolderStatus; at: number } | undefined;

  constructor(
    readonly account: AccountContext,
    readonly path: FolderPath,
  ) {
    super();
    this.bodies = new BodyFetcher(this);
    this.items = new ItemFetcher(this);
  }

  get fid(): string | undefined {
    return this.record?.fid;
  }

  /** Remembers a status upstream reported (LIST-STATUS, STATUS), so a SELECT right after can trust it. */
  noteStatus(status: FolderStatus): void {
    this.lastStatus = { status, at: Date.now() };
  }

  /** The status upstream last reported, if that was within the last few seconds. */
  recentStatus(): FolderStatus | undefined {
    const seen = this.lastStatus;
    return seen && Date.now() - seen.at <= STATUS_FRESH_MS ? seen.status : undefined;
  }

  /** SEARCH over the cache (upstream unreachable): see LocalSearch for what it can answer. */
  async searchCached(query: readonly Token[], uids: readonly Uid[]): Promise<Uid[]> {
    await this.load();
    const fid = this.fid;
    if (!fid) throw new ProxyError('UPSTREAM_UNAVAILABLE', 'the folder is not cached');
    const { store } = this.account;
    const found: Uid[] = [];
    for (let i = 0; i < uids.length; i += 500) {
      const batch = uids.slice(i, i + 500);
      const metas = (await store.getMetas(fid, batch)).filter((m): m is MessageMeta => !!m);
      const messages = metas.map((meta) => ({ meta, header: () => this.cachedHeader(fid, meta.uid) }));
      found.push(...(await searchLocally(query, messages)));
    }
    return found;
  }

  /** A message's raw header block from the cache (whole body or header section), as latin1. */
  private async cachedHeader(fid: string, uid: Uid): Promise<string | undefined> {
    const { store } = this.account;
    const [body, header] = await store.getSections(fid, [
      { uid, section: FULL_BODY },
      { uid, section: HEADER_BLOCK },
    ]);
    const record = body ?? header;
    if (!record) return undefined;
    const end = body ? body.headerLength : record.length;
    const content = await store.openSection(record, 0, Math.min(end, SEARCH_HEADER_MAX));
    if ('buffer' in content) return content.buffer.toString('latin1');
    const pieces: Buffer[] = [];
    for await (const piece of content.stream) pieces.push(piece as Buffer);
    return Buffer.concat(pieces).toString('latin1');
  }

  /** The folder's status from the cache alone (upstream unreachable); undefined if never cached. */
  async cachedStatus(): Promise<FolderStatus | undefined> {
    await this.load();
    const record = this.record;
    if (!record) return undefined;
    let unseen = 0;
    for (let i = 0; i < this.uids.length; i += 1000) {
      for (const meta of await this.account.store.getMetas(record.fid, this.uids.slice(i, i + 1000))) {
        if (meta && !meta.flags.includes('\\Seen')) unseen++;
      }
    }
    return {
      uidValidity: record.uidValidity,
      uidNext: record.uidNext,
      messages: this.uids.length,
      highestModseq: String(this.modseqFloor()),
      unseen,
    };
  }

  /** The cache was cleared (admin): forget what was loaded; the next use starts from upstream. */
  cacheCleared(): void {
    this.record = undefined;
    this.uids = [];
    this.loading = Promise.resolve();
    this.lastStatus = undefined;
    this.bodies.reset();
    this.journal.clear();
  }

  /** Loaded, and with a cache generation: a folder whose cache was cleared is synced again first. */
  async ready(): Promise<void> {
    await this.load();
    if (!this.record) await this.sync();
  }

  /** Loads the cached record and UIDs once. */
  load(): Promise<void> {
    this.loading ??= (async () => {
      this.record = await this.account.store.getFolder(this.account.id, this.path);
      if (this.record) this.uids = await this.account.store.loadUids(this.record.fid);
    })();
    return this.loading;
  }

  /**
   * Brings the cache up to date with upstream; concurrent callers share one sync. While upstream
   * is unreachable a folder that has a cache is served as cached.
   */
  async sync(priority: Priority = Priority.Client): Promise<void> {
    await this.load();
    if (this.isFresh()) return;
    try {
      await this.syncWithUpstream(priority);
    } catch (err) {
      if (this.record && isProxyError(err, 'UPSTREAM_UNAVAILABLE')) return;
      throw err;
    }
  }

  private syncWithUpstream(priority: Priority): Promise<void> {
    this.syncing ??= this.account.pool
      .run({ folder: this.path, priority }, async (conn, opened) => {
        // a connection already on this folder is asked again: its status may be old
        const status = opened ?? (await conn.open(this.path, conn.selectedReadOnly));
        await syncFolder(this, conn, status);
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  view(): FolderView {
    const record = this.record as FolderRecord;
    return {
      fid: record.fid,
      uidValidity: record.uidValidity,
      uidNext: record.uidNext,
      highestModseq: String(this.modseqFloor()),
      modifyIndex: this.journal.head(this.modseqFloor()),
      keywords: record.keywords ?? [],
      uids: this.uids,
    };
  }

  /** Starts a new cache generation (first sync, or UIDVALIDITY changed upstream). */
  async startGeneration(uidValidity: number): Promise<FolderRecord> {
    const previous = this.record;
    const next: FolderRecord = {
      v: RECORD_VERSION,
      fid: this.account.store.newFolderId(),
      uidValidity,
      uidNext: 1,
      highestModseq: '0',
      messages: 0,
      keywords: [],
      lastSync: 0,
    };
    await this.account.store.replaceFolder(this.account.id, this.path, previous, next);
    this.record = next;
    this.uids = [];
    this.bodies.reset();
    this.journal.clear();
    if (previous) {
      this.account.log.info({ folder: this.path, old: previous.uidValidity, new: uidValidity }, 'UIDVALIDITY changed upstream; the folder cache was dropped');
      this.emit('reset');
    }
    return next;
  }

  /** Records changes in the journal and tells the sessions; `origin` is a session already told. */
  publish(changes: FolderChanges, floor: number, origin?: string): void {
    if (!changes.added.length && !changes.expunged.length && !changes.flagged.length) return;
    this.journal.append(changes, floor, origin);
    this.emit('updated', changes);
  }

  /**
   * Changes flags upstream first, then in the cache. Returns what upstream reported per message
   * and, with UNCHANGEDSINCE, the UIDs it left alone because they changed since.
   */
  async storeFlags(
    uids: readonly Uid[],
    action: '+FLAGS' | '-FLAGS' | 'FLAGS',
    flags: readonly string[],
    options: { unchangedSince?: string; origin?: string } = {},
  ): Promise<{ updates: FlagUpdate[]; modified: Uid[] }> {
    const result = await this.account.pool.run({ folder: this.path, readWrite: true, priority: Priority.Client }, (conn) =>
      conn.uidStore(toSequenceSet(uids), action, flags, options.unchangedSince),
    );
    await this.applyFlagUpdates(result.updates, options.origin);
    return result;
  }

  /** Removes messages upstream reported gone from the cache and tells the sessions. */
  async applyExpunged(expunged: readonly Uid[], origin?: string): Promise<void> {
    const fid = this.fid;
    const gone = expunged.filter((uid) => indexOfUid(this.uids, uid) >= 0).sort((a, b) => a - b);
    if (!fid || gone.length === 0) return;
    const { store } = this.account;
    const deletes = await store.messageDeletes(fid, gone);
    const drop = new Set(gone);
    const record = { ...(this.record as FolderRecord), messages: this.uids.length - gone.length };
    await store.batch([...deletes.ops, store.folderPutOp(this.account.id, this.path, record)]);
    await store.dropChunks(deletes.chunks);
    this.record = record;
    this.uids = this.uids.filter((uid) => !drop.has(uid));
    this.bodies.forget(gone);
    this.publish({ added: [], expunged: gone, flagged: [] }, this.modseqFloor(), origin);
  }

  /**
   * Takes over the cached bodies of messages moved here from `source` (MOVE with COPYUID), when
   * this folder's cache generation is the one the COPYUID speaks of.
   */
  async adoptBodies(source: Folder, copyUid: CopyUid): Promise<void> {
    await this.load();
    const fid = this.fid;
    const sourceFid = source.fid;
    if (!fid || !sourceFid || this.record?.uidValidity !== copyUid.uidValidity) return;
    const { store } = this.account;
    const ops = [];
    for (const [from, to] of copyUid.map) ops.push(...(await store.transferOps({ fid: sourceFid, uid: from }, { fid, uid: to })));
    await store.batch(ops);
    this.bodies.noteCached([...copyUid.map.values()]);
  }

  /**
   * Upstream changed (as a write through the proxy or the account watcher says): the next SELECT
   * asks again unless upstream gave the new status, and a folder in use is resynced now, so the
   * sessions that have it selected hear of the change.
   */
  invalidate(status?: FolderStatus): void {
    if (status) this.noteStatus(status);
    else this.lastStatus = undefined;
    if (this.record) {
      this.sync(Priority.ReadAhead).catch((err: unknown) =>
        this.account.log.debug({ err, folder: this.path }, 'background resync failed'),
      );
    }
  }

  private async applyFlagUpdates(updates: readonly FlagUpdate[], origin?: string): Promise<void> {
    const fid = this.fid;
    const record = this.record;
    if (!fid || !record || updates.length === 0) return;
    const { store } = this.account;
    const floor = this.modseqFloor();
    const metas = await store.getMetas(fid, updates.map((u) => u.uid));
    let local = record.localModseq ?? 0;
    // without CONDSTORE upstream, every change gets the next value of the proxy's own counter
    const changed = updates.map((u) => (u.modseq === '0' ? { ...u, modseq: String(++local) } : { ...u }));
    const ops = [];
    for (const [i, meta] of metas.entries()) {
      const update = changed[i] as FlagUpdate;
      if (meta) ops.push(store.metaPutOp(fid, { ...meta, flags: update.flags, modseq: update.modseq }));
    }
    if (local !== (record.localModseq ?? 0)) {
      this.record = { ...record, localModseq: local };
      ops.push(store.folderPutOp(this.account.id, this.path, this.record));
    }
    await store.batch(ops);
    this.publish({ added: [], expunged: [], flagged: changed }, floor, origin);
  }

  /**
   * The folder's HIGHESTMODSEQ as clients see it: upstream's, or the proxy's own counter where
   * upstream has no CONDSTORE.
   */
  modseqFloor(): number {
    const record = this.record;
    if (!record) return 0;
    return record.highestModseq !== '0' ? Number(record.highestModseq) : (record.localModseq ?? 0);
  }

  /** The cached state matches a status upstream gave within the last few seconds. */
  private isFresh(): boolean {
    const record = this.record;
    const status = this.recentStatus();
    if (!record || !status) return false;
    return (
      status.highestModseq !== '0' &&
      record.uidValidity === status.uidValidity &&
      record.uidNext === status.uidNext &&
      record.highestModseq === status.highestModseq &&
      this.uids.length === status.messages
    );
  }
}
