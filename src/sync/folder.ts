import { EventEmitter } from 'node:events';
import type { FolderRecord } from '../cache/cache-store.js';
import { RECORD_VERSION } from '../cache/records.js';
import { isProxyError, ProxyError } from '../model/errors.js';
import { METADATA_SCAN_BATCH, RESELECT_MAX_MESSAGES, STATUS_FRESH_MS } from '../model/limits.js';
import type { FolderPath, FolderStatus, MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, lowerBound, toSequenceSet } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import { hasAtom, type Token } from '../upstream/imap-tokens.js';
import type { CopyUid } from '../upstream/response-codes.js';
import type { FlagUpdate } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { searchCache } from './cached-search.js';
import { sortMessages } from './sort/sort-index.js';
import type { SortStep } from './sort/sort-program.js';
import { threadMessages, type ThreadAlgorithm } from './sort/threads.js';
import { gatherFetchData, type FetchData, type FetchNeeds } from './fetch-data.js';
import { syncFolder, type SyncResult } from './folder-sync.js';
import { FolderGeneration } from './generation.js';
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
 * One folder of one account: its current cache generation (record, UIDs, fetchers; replaced
 * whole when UIDVALIDITY changes), the sync that keeps it up to date with upstream, and the
 * journal of recent changes for the sessions that have it selected. Only this class changes its
 * state. Emits 'updated' when the journal grew and 'reset' when a new UIDVALIDITY dropped the
 * cached generation.
 */
export class Folder extends EventEmitter {
  readonly journal = new UpdateJournal();
  private current: FolderGeneration | undefined;
  private loading: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  private lastStatus: { status: FolderStatus; at: number } | undefined;
  /** UIDs from here up have not been taken as \Recent by a session (claimRecent). */
  private unclaimedFrom: Uid | undefined;

  constructor(
    readonly account: AccountContext,
    readonly path: FolderPath,
  ) {
    super();
  }

  /** The cache generation, once loaded; undefined while the folder has none. */
  get generation(): FolderGeneration | undefined {
    return this.current;
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

  /** The folder's status from the cache alone (upstream unreachable); undefined if never cached. */
  async cachedStatus(): Promise<FolderStatus | undefined> {
    await this.load();
    const generation = this.current;
    if (!generation) return undefined;
    const { record, uids } = generation;
    let unseen = 0;
    for (let i = 0; i < uids.length; i += METADATA_SCAN_BATCH) {
      for (const meta of await this.account.store.getMetas(record.fid, uids.slice(i, i + METADATA_SCAN_BATCH))) {
        if (meta && !meta.flags.includes('\\Seen')) unseen++;
      }
    }
    return { uidValidity: record.uidValidity, uidNext: record.uidNext, messages: uids.length, highestModseq: String(this.modseqFloor()), unseen };
  }

  /** The cache was cleared (admin): forget what was loaded; the next use starts from upstream. */
  cacheCleared(): void {
    this.current = undefined;
    this.loading = Promise.resolve();
    this.lastStatus = undefined;
    this.journal.clear();
  }

  /** Loaded, and with a cache generation: a folder whose cache was cleared is synced again first. */
  async ready(): Promise<FolderGeneration> {
    await this.load();
    if (!this.current) await this.sync();
    if (!this.current) throw new ProxyError('UPSTREAM_UNAVAILABLE', 'the folder is not cached', { context: { folder: this.path } });
    return this.current;
  }

  /** Loads the cached record and UIDs once. */
  load(): Promise<void> {
    this.loading ??= (async () => {
      const { store, id } = this.account;
      const record = await store.getFolder(id, this.path);
      if (record) this.current = new FolderGeneration(this.account, this.path, record, await store.loadUids(record.fid));
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
    await this.syncNow(priority);
  }

  /**
   * Asks upstream now, even right after it reported a status (a SELECT, a NOOP: what the client
   * is told must be upstream's state at that moment; one round trip when nothing changed).
   */
  async refresh(): Promise<void> {
    await this.load();
    await this.syncNow(Priority.Client);
  }

  private async syncNow(priority: Priority): Promise<void> {
    try {
      await this.syncWithUpstream(priority);
    } catch (err) {
      if (this.current && isProxyError(err, 'UPSTREAM_UNAVAILABLE')) return;
      throw err;
    }
  }

  private syncWithUpstream(priority: Priority): Promise<void> {
    this.syncing ??= (async () => {
      // each failed attempt was on a connection that is gone now: a new one selects the folder
      while (!(await this.syncOnce(priority)));
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /** One sync on one connection; false when that connection was lost before the sync began. */
  private syncOnce(priority: Priority): Promise<boolean> {
    return this.account.pool.run({ folder: this.path, priority }, async (conn, opened) => {
      // a connection already on this folder: its SELECT is old
      const big = (this.current?.uids.length ?? 0) >= RESELECT_MAX_MESSAGES;
      const refreshed = opened ?? (big ? await conn.refreshSelected() : undefined);
      // a lost connection is given up (the next one selects anew); a live one selects again
      if (!refreshed && !conn.usable) return false;
      const status = refreshed ?? (await conn.open(this.path, conn.selectedReadOnly));
      const known = this.current?.record.uidValidity === status.uidValidity ? this.current : undefined;
      const generation = known ?? (await this.startGeneration(status.uidValidity));
      // journal entries of this sync rank above everything sessions saw before it
      const floor = this.modseqFloor();
      const result = await syncFolder(generation, conn, status, { quiet: !known });
      // a new generation has no session yet: its first fill is nobody's news
      await this.apply(generation, result, known ? floor : undefined);
      // from here on every change reaches the journal: CHANGEDSINCE above this needs no scan
      if (this.current === generation) this.journal.completeFrom(known ? floor : this.modseqFloor());
      return true;
    });
  }

  /** Takes on what a sync found: the record and expunges in the cache first, then in memory; `floor`: tell the sessions. */
  private async apply(generation: FolderGeneration, result: SyncResult, floor: number | undefined): Promise<void> {
    // the cache was cleared meanwhile: what the sync wrote goes with the dropped generation
    if (this.current !== generation) return;
    const { store, id } = this.account;
    const { expunged } = result.changes;
    if (expunged.length) await store.expunge(generation.fid, expunged, { acct: id, path: this.path, record: result.record });
    else if (result.record !== generation.record) await store.putFolder(id, this.path, result.record);
    generation.record = result.record;
    generation.uids = result.uids;
    if (expunged.length) generation.bodies.forget(expunged);
    if (floor !== undefined) this.publish(result.changes, floor);
  }

  view(generation: FolderGeneration): FolderView {
    const { record, uids } = generation;
    return {
      fid: record.fid,
      uidValidity: record.uidValidity,
      uidNext: record.uidNext,
      highestModseq: String(this.modseqFloor()),
      modifyIndex: this.journal.head(this.modseqFloor()),
      keywords: record.keywords ?? [],
      uids,
    };
  }

  /**
   * The sequence number of the first message without \Seen (SELECT's UNSEEN), 0 if there is
   * none. Reads metadata from where the known \Seen prefix ends, in batches.
   */
  async firstUnseen(generation: FolderGeneration): Promise<number> {
    const uids = generation.uids;
    // known from an earlier SELECT, and no message up to it changed since: no read at all
    if (generation.unseenFound && generation.seenPrefix < uids.length) return generation.seenPrefix + 1;
    for (let i = generation.seenPrefix; i < uids.length; i += METADATA_SCAN_BATCH) {
      const metas = await this.account.store.getMetas(generation.fid, uids.slice(i, i + METADATA_SCAN_BATCH));
      const at = metas.findIndex((meta) => meta && !meta.flags.includes('\\Seen'));
      if (generation.uids !== uids) return 0; // changed meanwhile: a next SELECT looks again
      if (at >= 0) {
        generation.seenPrefix = i + at;
        generation.unseenFound = true;
        return i + at + 1;
      }
      generation.seenPrefix = Math.min(i + METADATA_SCAN_BATCH, uids.length);
    }
    return 0;
  }

  /**
   * \Recent (RFC 3501 2.3.2), kept by the proxy: a message that arrived while the proxy ran (or
   * since the folder was created through it) is recent to the first session that selects the
   * folder read-write after it came. Returns the session's recent UIDs; EXAMINE sees them without
   * taking them.
   */
  claimRecent(generation: FolderGeneration, readOnly: boolean): Uid[] {
    this.unclaimedFrom ??= generation.record.uidNext;
    const recent = generation.uids.slice(lowerBound(generation.uids, this.unclaimedFrom));
    if (!readOnly) this.unclaimedFrom = Math.max(this.unclaimedFrom, generation.record.uidNext);
    return recent;
  }

  /** New messages a read-write session was told of: those no session took yet are its \Recent ones. */
  claimArrivals(uids: readonly Uid[]): Uid[] {
    const from = this.unclaimedFrom;
    if (from === undefined) return [];
    const taken = uids.filter((uid) => uid >= from);
    for (const uid of taken) this.unclaimedFrom = Math.max(this.unclaimedFrom ?? 0, uid + 1);
    return taken;
  }

  /** How many messages are recent and not yet taken by a session (STATUS RECENT). */
  recentCount(): number {
    const generation = this.current;
    if (!generation || this.unclaimedFrom === undefined) return 0;
    return generation.uids.length - lowerBound(generation.uids, this.unclaimedFrom);
  }

  /** Created through the proxy: every message that arrives is recent. */
  markCreated(): void {
    this.unclaimedFrom = 1;
  }

  /** Metadata of these messages (undefined: not cached); with `readAhead`, for a client fetching message by message. */
  async metas(uids: readonly Uid[], options: { readAhead?: boolean } = {}): Promise<(MessageMeta | undefined)[]> {
    const generation = await this.ready();
    return this.account.store.getMetas(generation.fid, uids, options);
  }

  /** What a FETCH of these messages needs (fetch-data.ts). */
  async fetchData(metas: MessageMeta[], needs: FetchNeeds): Promise<FetchData> {
    return gatherFetchData(await this.ready(), metas, needs);
  }

  /**
   * SEARCH among `uids`: upstream answers while it is reachable, the cache while it is not. A
   * MODSEQ criterion where upstream has no CONDSTORE is the proxy's own counter's: the cache answers.
   */
  async search(query: readonly Token[], uids: readonly Uid[]): Promise<Uid[]> {
    if (hasAtom(query, 'MODSEQ') && (await this.ready()).record.highestModseq === '0') return searchCache(await this.ready(), query, uids);
    try {
      return await this.account.pool.run({ folder: this.path, priority: Priority.Client }, (conn) => conn.uidSearch(query));
    } catch (err) {
      if (!isProxyError(err, 'UPSTREAM_UNAVAILABLE')) throw err;
      return searchCache(await this.ready(), query, uids);
    }
  }

  /** SORT (RFC 5256) of these messages (ascending UIDs), from the cache's sort keys (sort/). */
  async sort(uids: readonly Uid[], steps: readonly SortStep[]): Promise<Uid[]> {
    return sortMessages(await this.ready(), uids, steps);
  }

  /** THREAD (RFC 5256) of these messages: the thread list; `name` gives the number a message is named by. */
  async thread(uids: readonly Uid[], algorithm: ThreadAlgorithm, name: (uid: Uid) => number): Promise<string> {
    return threadMessages(await this.ready(), uids, algorithm, name);
  }

  /** Starts a new cache generation (first sync, or UIDVALIDITY changed upstream). */
  private async startGeneration(uidValidity: number): Promise<FolderGeneration> {
    const previous = this.current;
    const record: FolderRecord = {
      v: RECORD_VERSION,
      fid: this.account.store.newFolderId(),
      uidValidity,
      uidNext: 1,
      highestModseq: '0',
      messages: 0,
      keywords: [],
      lastSync: 0,
    };
    await this.account.store.replaceFolder(this.account.id, this.path, previous?.record, record);
    this.current = new FolderGeneration(this.account, this.path, record, []);
    this.journal.clear();
    if (previous) {
      this.unclaimedFrom = undefined;
      this.account.log.info({ folder: this.path, old: previous.record.uidValidity, new: uidValidity }, 'UIDVALIDITY changed upstream; the folder cache was dropped');
      this.emit('reset');
    }
    return this.current;
  }

  /** The folder is gone upstream (DELETE): its cache goes too. */
  async drop(): Promise<void> {
    await this.load();
    await this.account.store.replaceFolder(this.account.id, this.path, this.current?.record, undefined);
    this.current = undefined;
  }

  /**
   * The messages whose flags changed or that arrived above a modseq (a FETCH with CHANGEDSINCE),
   * from the journal: what changed, not the folder; undefined when it does not reach back that far.
   */
  changedSince(modseq: number): Set<Uid> | undefined {
    return this.journal.changedSince(modseq);
  }

  /** Records changes in the journal and tells the sessions; `origin` is a session already told. */
  publish(changes: FolderChanges, floor: number, origin?: string): void {
    if (!changes.added.length && !changes.expunged.length && !changes.flagged.length) return;
    this.current?.flagsMayHaveChanged([...changes.expunged, ...changes.flagged.map((m) => m.uid)]);
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
    // a sequence set of messages the session no longer has (RFC 3501: not an error)
    if (uids.length === 0) return { updates: [], modified: [] };
    const result = await this.account.pool.run({ folder: this.path, readWrite: true, priority: Priority.Client }, (conn) =>
      conn.uidStore(toSequenceSet(uids), action, flags, options.unchangedSince),
    );
    // the updates as applied: where upstream has no CONDSTORE, with the proxy's own modseqs
    return { updates: await this.applyFlagUpdates(result.updates, options.origin), modified: result.modified };
  }

  /** Removes messages upstream reported gone from the cache and tells the sessions. */
  async applyExpunged(expunged: readonly Uid[], origin?: string): Promise<void> {
    const generation = this.current;
    if (!generation) return;
    const gone = expunged.filter((uid) => indexOfUid(generation.uids, uid) >= 0).sort((a, b) => a - b);
    if (gone.length === 0) return;
    const drop = new Set(gone);
    const record = { ...generation.record, messages: generation.uids.length - gone.length };
    await this.account.store.expunge(generation.fid, gone, { acct: this.account.id, path: this.path, record });
    generation.record = record;
    generation.uids = generation.uids.filter((uid) => !drop.has(uid));
    generation.bodies.forget(gone);
    this.publish({ added: [], expunged: gone, flagged: [] }, this.modseqFloor(), origin);
  }

  /**
   * Takes over the cached bodies of messages moved here from `source` (MOVE with COPYUID), when
   * this folder's cache generation is the one the COPYUID speaks of.
   */
  async adoptBodies(source: Folder, copyUid: CopyUid): Promise<void> {
    await this.load();
    const generation = this.current;
    const from = source.current;
    if (!generation || !from || generation.record.uidValidity !== copyUid.uidValidity) return;
    await this.account.store.moveMessages(from.fid, generation.fid, copyUid.map);
    generation.bodies.noteCached([...copyUid.map.values()]);
  }

  /**
   * Upstream changed (as a write through the proxy or the account watcher says): the next SELECT
   * asks again unless upstream gave the new status, and a folder in use is resynced now, so the
   * sessions that have it selected hear of the change.
   */
  invalidate(status?: FolderStatus): void {
    if (status) this.noteStatus(status);
    else this.lastStatus = undefined;
    if (this.current) {
      this.sync(Priority.ReadAhead).catch((err: unknown) => this.account.log.debug({ err, folder: this.path }, 'background resync failed'));
    }
  }

  /**
   * A write through the proxy changed the folder upstream: a folder in use is resynced before the
   * write's client is answered, so every session that has it selected hears of the new messages
   * at its next command (RFC 3501 6.3.11: EXISTS after an APPEND to the selected mailbox).
   */
  async resync(): Promise<void> {
    this.lastStatus = undefined;
    await this.load();
    if (!this.current) return;
    await this.syncNow(Priority.Client).catch((err: unknown) => this.account.log.debug({ err, folder: this.path }, 'resync after a write failed'));
  }

  private async applyFlagUpdates(updates: readonly FlagUpdate[], origin?: string): Promise<FlagUpdate[]> {
    const generation = this.current;
    if (!generation || updates.length === 0) return [...updates];
    const { store } = this.account;
    const floor = this.modseqFloor();
    const record = generation.record;
    const metas = await store.getMetas(generation.fid, updates.map((u) => u.uid));
    let local = record.localModseq ?? 0;
    // without CONDSTORE upstream, every change gets the next value of the proxy's own counter
    const changed = updates.map((u) => (u.modseq === '0' ? { ...u, modseq: String(++local) } : { ...u }));
    const updated: MessageMeta[] = [];
    for (const [i, meta] of metas.entries()) {
      const update = changed[i] as FlagUpdate;
      if (meta) updated.push({ ...meta, flags: update.flags, modseq: update.modseq });
    }
    const counted = local !== (record.localModseq ?? 0) ? { ...record, localModseq: local } : undefined;
    await store.updateMetas(generation.fid, updated, counted && { acct: this.account.id, path: this.path, record: counted });
    if (counted) generation.record = counted;
    this.publish({ added: [], expunged: [], flagged: changed }, floor, origin);
    return changed;
  }

  /**
   * The folder's HIGHESTMODSEQ as clients see it: upstream's, or the proxy's own counter where
   * upstream has no CONDSTORE.
   */
  modseqFloor(): number {
    const record = this.current?.record;
    if (!record) return 0;
    return record.highestModseq !== '0' ? Number(record.highestModseq) : (record.localModseq ?? 0);
  }

  /** The cached state matches a status upstream gave within the last few seconds. */
  private isFresh(): boolean {
    const generation = this.current;
    const status = this.recentStatus();
    if (!generation || !status) return false;
    const { record } = generation;
    return (
      status.highestModseq !== '0' &&
      record.uidValidity === status.uidValidity &&
      record.uidNext === status.uidNext &&
      record.highestModseq === status.highestModseq &&
      generation.uids.length === status.messages
    );
  }
}
