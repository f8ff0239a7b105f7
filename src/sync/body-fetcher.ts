import { FULL_BODY } from '../cache/keys.js';
import type { SectionRecord } from '../cache/cache-store.js';
import {
  BODY_BATCH_MAX_BYTES,
  BODY_BATCH_MAX_MESSAGES,
  READ_AHEAD_MAX_BYTES,
  READ_AHEAD_MESSAGES,
  READ_AHEAD_MIN_BYTES,
  UPSTREAM_PARTIAL_SIZE,
} from '../model/limits.js';
import type { MessageMeta, Uid } from '../model/types.js';
import { lowerBound } from '../model/uid-set.js';
import { Priority, type PoolRequest } from '../upstream/connection-pool.js';
import type { GenerationContext } from './account-context.js';
import { FreshBodyIndexer } from './part-sections.js';
import { splitCached } from './split-cached.js';
import { fetchLongSectionInto, fetchPiece, fetchSectionsInto } from './upstream-sections.js';

const DONE = Promise.resolve();

/** A promise settled by a batch whether or not anyone waits for it: never an unhandled rejection. */
function settledQuietly<T = void>(): PromiseWithResolvers<T> {
  const resolvers = Promise.withResolvers<T>();
  resolvers.promise.catch(() => undefined);
  return resolvers;
}

/** A body on its way: resolves with its record (bytes inline when fetched in one piece). */
interface InFlight extends PromiseWithResolvers<SectionRecord | undefined> {
  request: PoolRequest;
  /** A client waits for it: it gets the bytes from the promise, not from FreshBodies. */
  awaited: boolean;
  /** Settles once the body is in the cache (or upstream had none): what background work waits for. */
  stored: PromiseWithResolvers<void>;
}

/**
 * Fills a folder's cache with whole message bodies: what clients ask for first, then ahead of
 * them in UID order (clients download in that order), a bounded number of bytes ahead.
 * Bodies go from the upstream literal to LevelDB; nothing here holds more than one partial.
 */
export class BodyFetcher {
  private cached: Promise<Set<Uid>> | undefined;
  private readonly inflight = new Map<Uid, InFlight>();
  /** Bodies being stored from bytes the proxy holds (an APPEND's): settles when that is over, stored or not. */
  private readonly storing = new Map<Uid, Promise<void>>();
  /** APPENDs under way upstream, with the UID their messages will have at least: until each has called storeLocally (or failed). */
  private readonly appending = new Set<{ from: Uid; registered: Promise<void> }>();
  /** Read-ahead state: the highest UID considered, and what was scheduled beyond the client. */
  private cursor = 0;
  private ahead: { uid: Uid; size: number }[] = [];
  private aheadBytes = 0;
  private window = READ_AHEAD_MIN_BYTES;
  private lastDemand = 0;
  private extending = false;

  constructor(private readonly generation: GenerationContext) {}

  forget(uids: readonly Uid[]): void {
    void this.cached?.then((set) => uids.forEach((uid) => set.delete(uid)));
  }

  /** Bodies were dropped from the cache behind the fetcher's back (cache verify --repair): count again. */
  recount(): void {
    this.cached = undefined;
  }

  /** Bodies that became cached another way (moved here with their cache). */
  noteCached(uids: readonly Uid[]): void {
    void this.cached?.then((set) => uids.forEach((uid) => set.add(uid)));
  }

  /**
   * An APPEND to the folder is under way upstream; its messages get UIDs of `from` and up.
   * Upstream may tell other sessions of them before it answers the APPEND: a fetch of one waits
   * for `registered` (the APPEND answered and storeLocally called, or failed).
   */
  appendUnderWay(from: Uid, registered: Promise<void>): void {
    const entry = { from, registered };
    this.appending.add(entry);
    const over = () => void this.appending.delete(entry);
    registered.then(over, over);
  }

  /**
   * These messages' bodies are being stored from bytes the proxy holds (an APPEND's, once upstream
   * gave their UIDs): other sessions learn of the messages from upstream meanwhile, and a client
   * that fetches one waits for `stored` (a few milliseconds) instead of downloading it again.
   * `stored` resolves with the UIDs whose bodies are in the cache.
   */
  storeLocally(uids: readonly Uid[], stored: Promise<readonly Uid[]>): void {
    const over = stored.then(
      (done) => this.noteCached(done),
      () => undefined,
    );
    for (const uid of uids) this.storing.set(uid, over);
    void over.then(() => {
      for (const uid of uids) if (this.storing.get(uid) === over) this.storing.delete(uid);
    });
  }

  /**
   * Makes sure the bodies of these messages are cached; returns their section records. A message
   * missing from the result no longer exists upstream.
   */
  async ensure(metas: readonly MessageMeta[], priority: Priority): Promise<Map<Uid, SectionRecord>> {
    const { store, pool, freshBodies } = this.generation.account;
    const { fid } = this.generation;
    const result = new Map<Uid, SectionRecord>();
    if (metas.length === 0) return result;
    await this.localStores(metas);
    const toRead: MessageMeta[] = [];
    for (const meta of metas) {
      const fresh = freshBodies.take(fid, meta.uid);
      if (fresh) result.set(meta.uid, fresh);
      else toRead.push(meta);
    }
    // a fetch that finishes while the records are read has left the in-flight map when the read
    // returns without its record: its entry, kept here, has the record (fetching again would not)
    const runningBefore = new Map<Uid, InFlight>();
    for (const meta of toRead) {
      const entry = this.inflight.get(meta.uid);
      if (entry) runningBefore.set(meta.uid, entry);
    }
    const wanted = toRead.map((m) => ({ uid: m.uid, section: FULL_BODY }));
    const records = toRead.length ? await store.getSections(fid, wanted, { readAhead: priority === Priority.Client }) : [];
    const missing = await this.linkKnown(splitCached(toRead, records, result), result);
    if (priority !== Priority.Background) this.noteDemand(metas[metas.length - 1]?.uid as Uid);
    const { served } = this.generation.account;
    for (const record of result.values()) served.note('cache', record.length);
    for (const meta of missing) served.note('upstream', meta.size);
    if (missing.length === 0) return result;

    const entryOf = (uid: Uid) => this.inflight.get(uid) ?? runningBefore.get(uid);
    const toFetch: MessageMeta[] = [];
    for (const meta of missing) {
      const running = entryOf(meta.uid);
      if (running && priority === Priority.Client) pool.promote(running.request);
      if (!running) toFetch.push(meta);
    }
    this.schedule(toFetch, priority);
    const fetched = await Promise.all(
      missing.map((meta) => {
        const entry = entryOf(meta.uid) as InFlight;
        entry.awaited = true;
        return entry.promise;
      }),
    );
    missing.forEach((meta, i) => {
      const record = fetched[i];
      if (record) result.set(meta.uid, record);
    });
    return result;
  }

  /**
   * Background fill: fetches the bodies of these messages that are not cached yet and resolves
   * once they are in the cache, holding none of them in memory meanwhile. Returns the bytes fetched.
   */
  async prefetch(metas: readonly MessageMeta[]): Promise<number> {
    await this.localStores(metas);
    const cached = await this.cachedUids();
    const uncached = metas.filter((meta) => !cached.has(meta.uid));
    // a Gmail message stored under another label is not downloaded again; one on its way is awaited
    const unlinked = new Set(await this.linkKnown(uncached.filter((meta) => !this.inflight.has(meta.uid))));
    const missing = uncached.filter((meta) => unlinked.has(meta) || this.inflight.has(meta.uid));
    this.schedule(missing.filter((meta) => !this.inflight.has(meta.uid)), Priority.Background);
    await Promise.all(missing.map((meta) => this.inflight.get(meta.uid)?.stored.promise));
    return missing.reduce((sum, meta) => sum + meta.size, 0);
  }

  /** Waits for the APPENDs these messages may come from, and for bodies being stored from an APPEND's bytes: those are not fetched again. */
  private async localStores(metas: readonly MessageMeta[]): Promise<void> {
    for (const append of this.appending) if (metas.some((meta) => meta.uid >= append.from)) await append.registered.catch(() => undefined);
    if (this.storing.size > 0) await Promise.all(metas.map((meta) => this.storing.get(meta.uid)));
  }

  /** Whether a message's body is being stored, or may soon be, from an APPEND's bytes (see localStores). */
  private storedLocally(uid: Uid): boolean {
    if (this.storing.has(uid)) return true;
    for (const append of this.appending) if (uid >= append.from) return true;
    return false;
  }

  /** UIDs of this folder whose body is not cached yet, ascending. */
  async uncached(): Promise<Uid[]> {
    const cached = await this.cachedUids();
    return this.generation.uids.filter((uid) => !cached.has(uid));
  }

  /**
   * Gmail: a message whose X-GM-MSGID was stored under another label gets a reference to that
   * body (in `found`) instead of a download. Returns the messages still missing.
   */
  private async linkKnown(metas: MessageMeta[], found?: Map<Uid, SectionRecord>): Promise<MessageMeta[]> {
    const known = metas.filter((meta) => meta.gmMsgId !== undefined);
    if (known.length === 0) return metas;
    const { store, id: acct } = this.generation.account;
    const ids = await store.contentsOfMessageIds(acct, known.map((meta) => meta.gmMsgId as string));
    const linked = new Set<Uid>();
    for (const [i, meta] of known.entries()) {
      const id = ids[i];
      const record = id ? await store.linkBody(this.generation.fid, meta.uid, id) : undefined;
      if (!record) continue;
      linked.add(meta.uid);
      found?.set(meta.uid, record);
    }
    if (linked.size === 0) return metas;
    this.noteCached([...linked]);
    return metas.filter((meta) => !linked.has(meta.uid));
  }

  /** Groups messages into upstream fetches, each message entered in the in-flight map. */
  private schedule(metas: readonly MessageMeta[], priority: Priority): void {
    let batch: MessageMeta[] = [];
    let batchBytes = 0;
    const flush = () => {
      if (batch.length) this.runBatch(batch, priority);
      batch = [];
      batchBytes = 0;
    };
    for (const meta of metas) {
      if (meta.size > UPSTREAM_PARTIAL_SIZE) {
        // a large body gets connections of its own, so small ones are not held up behind it; the
        // background fill, in no hurry, takes one connection and one piece at a time. What comes
        // before it in UID order is asked for first: clients read in that order
        flush();
        if (priority === Priority.Background) this.runBatch([meta], priority);
        else this.runLong(meta, priority);
        continue;
      }
      if (batch.length >= BODY_BATCH_MAX_MESSAGES || batchBytes + meta.size > BODY_BATCH_MAX_BYTES) flush();
      batch.push(meta);
      batchBytes += meta.size;
    }
    flush();
  }

  private runBatch(metas: readonly MessageMeta[], priority: Priority): void {
    const { store, pool } = this.generation.account;
    const fid = this.generation.fid;
    const request: PoolRequest = { folder: this.generation.path, priority };
    const byUid = new Map(metas.map((meta) => [meta.uid, meta]));
    const settle = this.settler(byUid);
    const pending = new Map<Uid, InFlight>();
    for (const meta of metas) pending.set(meta.uid, this.enter(meta.uid, request));
    pool
      .run(request, async (conn) => {
        const indexer = new FreshBodyIndexer(this.generation, [...pending.keys()]);
        await fetchSectionsInto(conn, store, { acct: this.generation.account.id, fid }, [...pending.keys()], '', FULL_BODY, 'scan', (uid, record, written) => {
          const entry = pending.get(uid);
          if (!entry) return;
          pending.delete(uid);
          entry.resolve(record);
          // kept for a client reading right behind the read-ahead; the background fill keeps nothing
          if (record?.inline && !entry.awaited && priority === Priority.ReadAhead) {
            this.generation.account.freshBodies.put(fid, uid, record);
          }
          indexer.add(uid, record);
          settle(uid, entry, record, written);
        }, (uid) => byUid.get(uid)?.size ?? 0);
        void indexer.store();
      })
      .then(
        () => pending.forEach((entry, uid) => (entry.resolve(undefined), this.leave(uid, entry))),
        (err: unknown) => pending.forEach((entry, uid) => (entry.reject(err), this.leave(uid, entry, err))),
      );
  }

  /** One body longer than a partial: its pieces each a pool job, two at a time. */
  private runLong(meta: MessageMeta, priority: Priority): void {
    const { store, pool } = this.generation.account;
    const request: PoolRequest = { folder: this.generation.path, priority };
    const settle = this.settler(new Map([[meta.uid, meta]]));
    const entry = this.enter(meta.uid, request);
    const fetchAt = (offset: number) =>
      pool.run(request, async (conn) => {
        // backpressure as for a batch: a piece is asked for only when the cache can take it, or
        // pieces of the large bodies scheduled would pile up in memory while the cache is busy
        await store.writeSpace();
        return fetchPiece(conn, meta.uid, '', offset);
      });
    const at = { acct: this.generation.account.id, fid: this.generation.fid };
    pool.hold(fetchLongSectionInto(fetchAt, store, at, meta.uid, FULL_BODY, 'scan', meta.size)).then(
      (record) => (entry.resolve(record), settle(meta.uid, entry, record, DONE)),
      (err: unknown) => (entry.reject(err), this.leave(meta.uid, entry, err)),
    );
  }

  private enter(uid: Uid, request: PoolRequest): InFlight {
    const entry: InFlight = { ...settledQuietly<SectionRecord | undefined>(), request, awaited: false, stored: settledQuietly() };
    this.inflight.set(uid, entry);
    return entry;
  }

  /**
   * What follows the write of a fetched body: the entry leaves the in-flight map once the body is
   * readable from the cache (and, for a Gmail message, known by its X-GM-MSGID to other labels).
   */
  private settler(metas: ReadonlyMap<Uid, MessageMeta>) {
    const { store, id: acct, log } = this.generation.account;
    return (uid: Uid, entry: InFlight, record: SectionRecord | undefined, written: Promise<void>) => {
      written.then(
        async () => {
          // counted as cached before it leaves the in-flight map: a read-ahead that saw it as
          // neither would fetch it again
          if (record) await this.cached?.then((set) => set.add(uid), () => undefined);
          const msgid = metas.get(uid)?.gmMsgId;
          if (record && msgid) {
            await store.noteMessageIds(acct, [{ msgid, record }]).catch((err: unknown) => log.debug({ err, uid }, 'a Gmail message id could not be noted'));
          }
          this.leave(uid, entry);
        },
        (err: unknown) => {
          this.generation.account.log.warn({ err, folder: this.generation.path, uid }, 'a fetched body could not be cached');
          this.leave(uid, entry, err);
        },
      );
    };
  }

  private leave(uid: Uid, entry: InFlight, err?: unknown): void {
    if (this.inflight.get(uid) === entry) this.inflight.delete(uid);
    if (err) entry.stored.reject(err);
    else entry.stored.resolve();
  }

  private cachedUids(): Promise<Set<Uid>> {
    this.cached ??= this.generation.account.store.loadSectionUids(this.generation.fid, FULL_BODY);
    return this.cached;
  }

  /** A client reached `uid`: keep bodies cached or on their way a bounded distance beyond it. */
  private noteDemand(uid: Uid): void {
    while (this.ahead.length && (this.ahead[0] as { uid: Uid }).uid <= uid) this.aheadBytes -= (this.ahead.shift() as { size: number }).size;
    if (uid > this.cursor) this.cursor = uid;
    if (uid > this.lastDemand) this.window = Math.min(this.window * 2, READ_AHEAD_MAX_BYTES);
    this.lastDemand = Math.max(this.lastDemand, uid);
    if (this.extending) return;
    this.extending = true;
    this.extendReadAhead()
      .catch((err: unknown) => this.generation.account.log.debug({ err, folder: this.generation.path }, 'read-ahead stopped'))
      .finally(() => {
        this.extending = false;
      });
  }

  private async extendReadAhead(): Promise<void> {
    while (this.aheadBytes < this.window && this.ahead.length < READ_AHEAD_MESSAGES) {
      const cached = await this.cachedUids();
      const uids = this.generation.uids;
      const candidates: Uid[] = [];
      // bounded work per command: a folder whose bodies are all cached is not walked to its end each time
      const start = lowerBound(uids, this.cursor + 1);
      const end = Math.min(uids.length, start + READ_AHEAD_MESSAGES);
      for (let i = start; i < end && candidates.length < BODY_BATCH_MAX_MESSAGES; i++) {
        const uid = uids[i] as Uid;
        if (!cached.has(uid) && !this.inflight.has(uid) && !this.storedLocally(uid)) candidates.push(uid);
        else if (candidates.length === 0) this.cursor = uid; // cached or on its way: nothing to read ahead up to here
      }
      if (candidates.length === 0) return;
      const metas = (await this.generation.account.store.getMetas(this.generation.fid, candidates)).filter((meta) => meta !== undefined);
      // Gmail: what is stored under another label is linked, not read ahead from upstream
      const unlinked = await this.linkKnown(metas);
      if (unlinked.length === 0 && metas.length > 0) continue;
      const take: MessageMeta[] = [];
      for (const meta of unlinked) {
        if (this.aheadBytes >= this.window) break;
        take.push(meta);
        this.ahead.push({ uid: meta.uid, size: meta.size });
        this.aheadBytes += meta.size;
        this.cursor = meta.uid;
      }
      if (take.length === 0) return;
      this.schedule(take.filter((m) => !this.inflight.has(m.uid)), Priority.ReadAhead);
    }
  }
}
