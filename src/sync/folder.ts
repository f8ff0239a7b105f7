import { EventEmitter } from 'node:events';
import type { FolderRecord, MetaWrite } from '../cache/cache-store.js';
import { clientModseq, RECORD_VERSION } from '../cache/records.js';
import { isUpstreamOut, ProxyError } from '../model/errors.js';
import { CHANGED_INDEX_LIMIT, LAST_SYNC_WRITE_MS, METADATA_SCAN_BATCH, RESELECT_MAX_MESSAGES, STATUS_FRESH_MS } from '../model/limits.js';
import type { FolderPath, FolderStatus, MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, lowerBound, missingBelow, normalizeRanges, toSequenceSet, type UidRange } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import { hasAtom, type Token } from '../upstream/imap-tokens.js';
import type { CopyUid } from '../upstream/response-codes.js';
import type { FlagUpdate, MailboxActivity, UpstreamConnection } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { searchCache } from './cached-search.js';
import { sortMessages } from './sort/sort-messages.js';
import type { SortStep } from './sort/sort-program.js';
import { threadMessages, type ThreadAlgorithm } from './sort/threads.js';
import { gatherFetchData, type FetchData, type FetchNeeds } from './fetch-data.js';
import { syncFolder, type SyncResult } from './folder-sync.js';
import { covers, type SyncScope } from './sync-scope.js';
import { FolderGeneration } from './generation.js';
import { ModseqAssigner } from './modseq-assigner.js';
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
 * state. Emits 'updated' when the journal grew, 'reset' when a new UIDVALIDITY dropped the
 * cached generation, and 'changed' when upstream's folder changed by a write through the proxy or
 * as the watcher reports (NOTIFY's STATUS for folders not cached too).
 */
export class Folder extends EventEmitter {
  readonly journal = new UpdateJournal();
  private current: FolderGeneration | undefined;
  private loading: Promise<void> | undefined;
  /** The sync under way, and how much it looks at. */
  private syncing: { done: Promise<void>; scope: SyncScope } | undefined;
  private lastStatus: { status: FolderStatus; at: number } | undefined;
  /** The last of the steps that give changes modseqs (changingModseqs). */
  private modseqStep: Promise<void> = Promise.resolve();
  /**
   * The connection the last sync ran on (where upstream has CONDSTORE), and what it had sent and
   * been told when the sync ended; `quiet`: upstream told of nothing beyond what the sync asked
   * for. After a quiet sync, a NOOP alone on that connection, answered without news, means
   * upstream has not changed the folder (nothing else said so).
   */
  private lastSync: { conn: UpstreamConnection; fid: string; activity: MailboxActivity; quiet: boolean } | undefined;
  /** UIDs from here up have not been taken as \Recent by a session (claimRecent). */
  private unclaimedFrom: Uid | undefined;
  /** The folder was deleted or renamed through the proxy: this object no longer stands for an upstream folder (retire). */
  private retired = false;

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
    return { uidValidity: record.uidValidity, uidNext: record.uidNext, messages: uids.length, highestModseq: String(this.highestModseq()), unseen };
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
      const stored = await store.getFolder(id, this.path);
      // a record of an older version has no record of expunges and no modseq index: they start now
      const record = stored && { ...stored, vanishedFrom: stored.vanishedFrom ?? clientModseq(stored), changesFrom: stored.changesFrom ?? clientModseq(stored) };
      if (record) this.current = new FolderGeneration(this.account, this.path, record, await store.loadUids(record.fid));
    })();
    return this.loading;
  }

  /**
   * Brings the cache up to date with upstream, unless a status upstream gave a moment ago shows
   * it is; concurrent callers share one sync. `scope` (folder-sync.ts): a quick sync where only
   * new mail and expunges matter. While upstream is unreachable a folder that has a cache is
   * served as cached.
   */
  async sync(priority: Priority = Priority.Client, scope: SyncScope = 'full'): Promise<void> {
    await this.load();
    if (this.isFresh(scope)) return;
    await this.syncNow(priority, scope);
  }

  /**
   * Asks upstream now, even right after it reported a status (a SELECT, a NOOP: what the client
   * is told must be upstream's state at that moment; one round trip when nothing changed where
   * upstream has CONDSTORE, a comparison of every message's flags where it has not).
   */
  async refresh(): Promise<void> {
    await this.load();
    await this.syncNow(Priority.Client, 'full');
  }

  private async syncNow(priority: Priority, scope: SyncScope): Promise<void> {
    try {
      await this.syncWithUpstream(priority, scope);
    } catch (err) {
      if (this.current && isUpstreamOut(err)) return;
      throw err;
    }
  }

  /** A sync under way serves whoever asks for no more than it looks at; one that asks for more follows it. */
  private syncWithUpstream(priority: Priority, scope: SyncScope): Promise<void> {
    const running = this.syncing;
    if (running && covers(running.scope, scope)) return running.done;
    const done = (async () => {
      await running?.done.catch(() => undefined);
      // each failed attempt was on a connection that is gone now: a new one selects the folder
      while (!(await this.syncOnce(priority, scope)));
    })().finally(() => {
      if (this.syncing?.done === done) this.syncing = undefined;
    });
    this.syncing = { done, scope };
    return done;
  }

  /** One sync on one connection; false when that connection was lost before the sync began. */
  private syncOnce(priority: Priority, scope: SyncScope): Promise<boolean> {
    return this.account.pool.run({ folder: this.path, priority }, async (conn, opened) => {
      // a connection already on this folder: its SELECT is old. A NOOP refreshes it (a FETCH alone
      // is answered from the session's view upstream as it was: Dovecot tells of changes made
      // elsewhere only after it), then CHANGEDSINCE asks what changed: for a big folder (Dovecot
      // reads its index again at every SELECT), and where upstream has CONDSTORE and a NOOP is
      // likely all it takes (nothing asked on the connection since a quiet sync) or the folder
      // changed there since the last sync (an APPEND or expunge through it; the SELECT again would
      // be followed by the fetch too). Otherwise it is selected again: one round trip when nothing changed.
      const last = this.lastSync?.conn === conn && this.lastSync.fid === this.current?.fid ? this.lastSync : undefined;
      this.lastSync = undefined;
      const now = conn.activity();
      const noopSuffices = !!last && ((last.quiet && now.commands === last.activity.commands) || now.changes > last.activity.changes);
      const byNoop = (this.current?.uids.length ?? 0) >= RESELECT_MAX_MESSAGES || (noopSuffices && conn.hasCapability('CONDSTORE'));
      const refreshed = opened ?? (byNoop ? await conn.refreshSelected() : undefined);
      // a lost connection is given up (the next one selects anew); a live one selects again
      if (!refreshed && !conn.usable) return false;
      const status = refreshed ?? (await conn.open(this.path, conn.selectedReadOnly));
      const known = this.current?.record.uidValidity === status.uidValidity ? this.current : undefined;
      const generation = known ?? (await this.startGeneration(status.uidValidity));
      const before = this.highestModseq();
      const start = conn.activity();
      const unchangedUpstream = !opened && !!refreshed && !!last?.quiet && last.fid === generation.fid && onlyQuietNoop(last.activity, start);
      const result = await syncFolder(generation, conn, status, { quiet: !known, scope, unchangedUpstream });
      const end = conn.activity();
      // CONDSTORE upstream: flag changes come as FETCH responses, which a quiet NOOP would have brought
      if (status.highestModseq !== '0') {
        this.lastSync = { conn, fid: generation.fid, activity: end, quiet: end.changes === start.changes && result.unsolicited === 0 };
      }
      // a new generation has no session yet: its first fill is nobody's news
      await this.apply(generation, result, !!known);
      // from here on every change reaches the journal: CHANGEDSINCE above this needs no scan
      if (this.current === generation) this.journal.completeFrom(known ? before : this.highestModseq());
      return true;
    });
  }

  /**
   * Takes on what a sync found: the record and expunges in the cache first, then in memory; `tell`:
   * the sessions too. The sync gave its changes modseqs above the counter as it was when it began:
   * where a write through the proxy took modseqs meanwhile, they get new ones above it.
   */
  private apply(generation: FolderGeneration, result: SyncResult, tell: boolean): Promise<void> {
    return this.changingModseqs(async () => {
      // the cache was cleared meanwhile: what the sync wrote goes with the dropped generation
      if (this.current !== generation) return;
      const { store, id } = this.account;
      const counter = this.highestModseq();
      let { record, changes } = result;
      if (counter >= result.modseqBase) ({ record, changes } = await this.renumber(generation, result, counter));
      // nothing new but the time (a SELECT of a big folder): the stored record stays a while
      if (onlyLaterSync(generation.record, record)) record = generation.record;
      const { expunged } = changes;
      if (expunged.length) await store.expunge(generation.fid, expunged, changes.expungedAt ?? 0, { acct: id, path: this.path, record });
      else if (record !== generation.record) await store.putFolder(id, this.path, record);
      generation.record = record;
      generation.uids = result.uids;
      if (expunged.length) generation.bodies.forget(expunged);
      if (tell) this.publish(changes);
    });
  }

  /** A sync's changes with modseqs above `counter`: their metadata rewritten, the record's counter raised. */
  private async renumber(generation: FolderGeneration, result: SyncResult, counter: number): Promise<Pick<SyncResult, 'record' | 'changes'>> {
    const modseqs = new ModseqAssigner(counter);
    const modseq = String(modseqs.next());
    const changes: FolderChanges = {
      added: result.changes.added.map((m) => ({ ...m, modseq })),
      flagged: result.changes.flagged.map((m) => ({ ...m, modseq })),
      expunged: result.changes.expunged,
      ...(result.changes.expunged.length ? { expungedAt: modseqs.expunged() } : {}),
    };
    const uids = [...changes.added, ...changes.flagged].map((m) => m.uid);
    const { store } = this.account;
    for (let i = 0; i < uids.length; i += METADATA_SCAN_BATCH) {
      const metas = await store.getMetas(generation.fid, uids.slice(i, i + METADATA_SCAN_BATCH));
      await store.putMetas(generation.fid, metas.filter((m): m is MessageMeta => !!m).map((m) => ({ meta: { ...m, modseq }, previousModseq: m.modseq })));
    }
    const upstream = result.record.highestModseq !== '0' ? Number(result.record.highestModseq) : 0;
    return { changes, record: { ...result.record, modseq: Math.max(modseqs.counter(upstream), clientModseq(result.record)) } };
  }

  /**
   * Runs the steps that give changes modseqs, write them and tell the sessions one at a time, so
   * that every change a session hears of later has a higher modseq than all it heard before.
   */
  private changingModseqs<T>(step: () => Promise<T>): Promise<T> {
    const run = this.modseqStep.then(step);
    this.modseqStep = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  view(generation: FolderGeneration): FolderView {
    const { record, uids } = generation;
    return {
      fid: record.fid,
      uidValidity: record.uidValidity,
      uidNext: record.uidNext,
      highestModseq: String(this.highestModseq()),
      modifyIndex: this.highestModseq(),
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
   * MODSEQ criterion speaks of the proxy's own modseqs: the cache answers.
   */
  async search(query: readonly Token[], uids: readonly Uid[]): Promise<Uid[]> {
    if (hasAtom(query, 'MODSEQ')) return searchCache(await this.ready(), query, uids);
    try {
      return await this.account.pool.run({ folder: this.path, priority: Priority.Client }, (conn) => conn.uidSearch(query));
    } catch (err) {
      if (!isUpstreamOut(err)) throw err;
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
    if (this.retired) throw new ProxyError('NONEXISTENT', 'the folder was deleted or renamed', { context: { folder: this.path } });
    const previous = this.current;
    // a cleared cache of the same UIDVALIDITY told clients a HIGHESTMODSEQ: the new one goes on from there
    const mark = previous ? undefined : await this.account.store.getModseqMark(this.account.id, this.path);
    const modseq = mark?.uidValidity === uidValidity ? mark.modseq : 0;
    const record: FolderRecord = {
      v: RECORD_VERSION,
      fid: this.account.store.newFolderId(),
      uidValidity,
      uidNext: 1,
      highestModseq: '0',
      modseq,
      changesFrom: modseq,
      // nothing recorded until the first fill is done (folder-sync.ts)
      vanishedFrom: Number.MAX_SAFE_INTEGER,
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
    const record = await this.retire();
    await this.account.store.replaceFolder(this.account.id, this.path, record, undefined);
  }

  /**
   * The folder was deleted or renamed upstream: a sync of it still under way (a background one,
   * a retry on a new connection) writes nothing more, since its record would bring back under
   * this name a folder the cache no longer has, or the old generation a new folder of the same
   * name would then load. Returns the record the cache held, once the writes of it under way are done.
   */
  async retire(): Promise<FolderRecord | undefined> {
    await this.load();
    this.retired = true;
    const generation = this.current;
    this.current = undefined;
    return this.changingModseqs(() => Promise.resolve(generation?.record));
  }

  /**
   * The messages whose flags changed or that arrived above a modseq (a FETCH with CHANGEDSINCE,
   * a SELECT with QRESYNC): what changed, not the folder. From the journal, or else (a modseq from
   * before the proxy started) the cache's modseq index; undefined when neither reaches back that
   * far or too many changed: then every message's modseq is to be looked at.
   */
  async changedSince(modseq: number): Promise<Set<Uid> | undefined> {
    const recent = this.journal.changedSince(modseq);
    if (recent) return recent;
    const generation = this.current;
    if (!generation || modseq < (generation.record.changesFrom ?? Number.POSITIVE_INFINITY)) return undefined;
    return this.account.store.changedSince(generation.fid, modseq, CHANGED_INDEX_LIMIT);
  }

  /**
   * The HIGHESTMODSEQ a STATUS reports, given upstream's status: the proxy's own, after a sync
   * where upstream's status says the folder changed since the cache was brought up to date. A
   * quick one: without CONDSTORE a status shows no flag change, so none is looked for here (the
   * client's SELECT that follows compares flags); new mail and expunges raise HIGHESTMODSEQ.
   */
  async statusModseq(status: FolderStatus): Promise<string> {
    await this.load();
    const generation = this.current;
    const record = generation?.record;
    const unchanged =
      record?.uidValidity === status.uidValidity &&
      record.uidNext === status.uidNext &&
      generation?.uids.length === status.messages &&
      (status.highestModseq === '0' || status.highestModseq === record.highestModseq);
    if (!unchanged) await this.sync(Priority.Client, 'quick');
    return String(this.highestModseq());
  }

  /**
   * The UIDs expunged above a modseq, normalized (QRESYNC's VANISHED (EARLIER)); from before the
   * record of expunges begins, every UID below UIDNEXT that is not here (RFC 7162 allows more).
   */
  async vanishedSince(modseq: number): Promise<UidRange[]> {
    const { fid, record, uids } = await this.ready();
    if (modseq < (record.vanishedFrom ?? 0)) return missingBelow(uids, record.uidNext);
    return normalizeRanges(await this.account.store.vanishedSince(fid, modseq));
  }

  /** Records changes in the journal and tells the sessions; `origin` is a session already told. */
  private publish(changes: FolderChanges, origin?: string): void {
    if (!changes.added.length && !changes.expunged.length && !changes.flagged.length) return;
    this.current?.flagsMayHaveChanged([...changes.expunged, ...changes.flagged.map((m) => m.uid)]);
    this.journal.append(changes, origin);
    // a status upstream gave before this change no longer holds (STATUS, NOTIFY)
    this.lastStatus = undefined;
    this.emit('updated', changes);
  }

  /**
   * Changes flags upstream first, then in the cache. Returns what upstream reported per message
   * (with the proxy's modseqs) and, with UNCHANGEDSINCE, the UIDs left alone because they changed
   * since: the client's modseq is the proxy's, so the cache, brought up to date first, decides,
   * and upstream (where it has CONDSTORE) refuses what changed after that (its own UNCHANGEDSINCE
   * at the HIGHESTMODSEQ of that update).
   */
  async storeFlags(
    uids: readonly Uid[],
    action: '+FLAGS' | '-FLAGS' | 'FLAGS',
    flags: readonly string[],
    options: { unchangedSince?: string; origin?: string } = {},
  ): Promise<{ updates: FlagUpdate[]; modified: Uid[] }> {
    let targets = uids;
    const modified: Uid[] = [];
    let upstreamSince: string | undefined;
    if (options.unchangedSince !== undefined && uids.length > 0) {
      const condstore = (await this.ready()).record.highestModseq !== '0';
      // without CONDSTORE upstream a refresh is a whole flag fetch: the cache as it is decides
      if (condstore) await this.refresh();
      const generation = await this.ready();
      const limit = BigInt(options.unchangedSince);
      const metas = await this.account.store.getMetas(generation.fid, uids);
      targets = uids.filter((uid, i) => {
        const changed = BigInt(metas[i]?.modseq ?? 0) > limit;
        if (changed) modified.push(uid);
        return !changed;
      });
      upstreamSince = condstore ? generation.record.highestModseq : undefined;
    }
    // a sequence set of messages the session no longer has (RFC 3501: not an error)
    if (targets.length === 0) return { updates: [], modified };
    const result = await this.account.pool.run({ folder: this.path, readWrite: true, priority: Priority.Client }, (conn) =>
      conn.uidStore(toSequenceSet(targets), action, flags, upstreamSince),
    );
    return { updates: await this.applyFlagUpdates(result.updates, options.origin), modified: [...modified, ...result.modified].sort((a, b) => a - b) };
  }

  /** Removes messages upstream reported gone from the cache and tells the sessions. */
  applyExpunged(expunged: readonly Uid[], origin?: string): Promise<void> {
    return this.changingModseqs(async () => {
      const generation = this.current;
      if (!generation) return;
      const gone = expunged.filter((uid) => indexOfUid(generation.uids, uid) >= 0).sort((a, b) => a - b);
      if (gone.length === 0) return;
      const drop = new Set(gone);
      const modseqs = new ModseqAssigner(this.highestModseq());
      const expungedAt = modseqs.expunged();
      const record = { ...generation.record, messages: generation.uids.length - gone.length, modseq: modseqs.counter() };
      await this.account.store.expunge(generation.fid, gone, expungedAt, { acct: this.account.id, path: this.path, record });
      generation.record = record;
      generation.uids = generation.uids.filter((uid) => !drop.has(uid));
      generation.bodies.forget(gone);
      this.publish({ added: [], expunged: gone, expungedAt, flagged: [] }, origin);
    });
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
   * Upstream changed (as the account watcher says): the next SELECT asks again unless upstream
   * gave the new status, and a folder in use is resynced now, as far as `scope` says, so the
   * sessions that have it selected hear of the change. A status that shows the cache as it is
   * (a watcher's first poll of the folder) changes nothing.
   */
  invalidate(status: FolderStatus | undefined, scope: SyncScope): void {
    if (status) this.noteStatus(status);
    else this.lastStatus = undefined;
    if (scope === 'quick' && this.isFresh(scope)) return;
    this.emit('changed');
    if (this.current) {
      this.sync(Priority.ReadAhead, scope).catch((err: unknown) => this.account.log.debug({ err, folder: this.path }, 'background resync failed'));
    }
  }

  /**
   * A write through the proxy changed the folder upstream (messages came or went): a folder in
   * use is resynced before the write's client is answered, so every session that has it selected
   * hears of the new messages at its next command (RFC 3501 6.3.11: EXISTS after an APPEND to the
   * selected mailbox).
   */
  async resync(): Promise<void> {
    this.lastStatus = undefined;
    await this.load();
    if (this.current) await this.syncNow(Priority.Client, 'quick').catch((err: unknown) => this.account.log.debug({ err, folder: this.path }, 'resync after a write failed'));
    this.emit('changed');
  }

  private applyFlagUpdates(updates: readonly FlagUpdate[], origin?: string): Promise<FlagUpdate[]> {
    return this.changingModseqs(async () => {
      const generation = this.current;
      if (!generation || updates.length === 0) return [...updates];
      const { store } = this.account;
      const metas = await store.getMetas(generation.fid, updates.map((u) => u.uid));
      const modseqs = new ModseqAssigner(this.highestModseq());
      const changed = updates.map((u) => ({ ...u, modseq: String(modseqs.next(u.modseq)) }));
      const updated: MetaWrite[] = [];
      for (const [i, meta] of metas.entries()) {
        const update = changed[i] as FlagUpdate;
        if (meta) updated.push({ meta: { ...meta, flags: update.flags, modseq: update.modseq }, previousModseq: meta.modseq });
      }
      const record = { ...generation.record, modseq: modseqs.counter() };
      await store.updateMetas(generation.fid, updated, { acct: this.account.id, path: this.path, record });
      generation.record = record;
      this.publish({ added: [], expunged: [], flagged: changed }, origin);
      return changed;
    });
  }

  /** The folder's HIGHESTMODSEQ as clients see it: the proxy's own (modseq-assigner.ts). */
  highestModseq(): number {
    const record = this.current?.record;
    return record ? clientModseq(record) : 0;
  }

  /**
   * The cached state matches a status upstream gave within the last few seconds: as far as
   * `scope` asks (without CONDSTORE a status shows nothing of flags: only a quick sync can be
   * spared by it).
   */
  private isFresh(scope: SyncScope): boolean {
    const generation = this.current;
    const status = this.recentStatus();
    if (!generation || !status) return false;
    const { record } = generation;
    return (
      (status.highestModseq !== '0' || scope === 'quick') &&
      record.uidValidity === status.uidValidity &&
      record.uidNext === status.uidNext &&
      record.highestModseq === status.highestModseq &&
      generation.uids.length === status.messages
    );
  }
}

/** `next` differs from `stored` only by a lastSync less than LAST_SYNC_WRITE_MS later (cache stats shows it to the minute). */
function onlyLaterSync(stored: FolderRecord, next: FolderRecord): boolean {
  if (next.lastSync - stored.lastSync >= LAST_SYNC_WRITE_MS) return false;
  const keys = new Set([...Object.keys(stored), ...Object.keys(next)] as (keyof FolderRecord)[]);
  keys.delete('lastSync');
  for (const key of keys) {
    const [a, b] = [stored[key], next[key]];
    if (Array.isArray(a) && Array.isArray(b) ? a.join('\0') !== b.join('\0') : a !== b) return false;
  }
  return true;
}

/** Since `then`, one command (the NOOP) and nothing upstream told of. */
function onlyQuietNoop(then: MailboxActivity, now: MailboxActivity): boolean {
  return now.commands === then.commands + 1 && now.changes === then.changes && now.fetches === then.fetches;
}
