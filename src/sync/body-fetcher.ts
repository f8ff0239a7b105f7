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
import { deferred, type Deferred } from './deferred.js';
import type { Folder } from './folder.js';
import { fetchSectionsInto } from './upstream-sections.js';

/** A body on its way: resolves with its record (bytes inline when fetched in one piece). */
interface InFlight extends Deferred<SectionRecord | undefined> {
  request: PoolRequest;
  /** A client waits for it: it gets the bytes from the promise, not from FreshBodies. */
  awaited: boolean;
  /** Settles once the body is in the cache (or upstream had none): what background work waits for. */
  stored: Deferred;
}

/**
 * Fills a folder's cache with whole message bodies: what clients ask for first, then ahead of
 * them in UID order (clients download in that order), a bounded number of bytes ahead.
 * Bodies go from the upstream literal to LevelDB; nothing here holds more than one partial.
 */
export class BodyFetcher {
  private cached: Promise<Set<Uid>> | undefined;
  private readonly inflight = new Map<Uid, InFlight>();
  /** Read-ahead state: the highest UID considered, and what was scheduled beyond the client. */
  private cursor = 0;
  private ahead: { uid: Uid; size: number }[] = [];
  private aheadBytes = 0;
  private window = READ_AHEAD_MIN_BYTES;
  private lastDemand = 0;
  private extending = false;
  private generation = 0;

  constructor(private readonly folder: Folder) {}

  /** The folder got a new cache generation: forget everything about the old one. */
  reset(): void {
    this.generation++;
    this.cached = undefined;
    this.inflight.clear();
    this.cursor = 0;
    this.ahead = [];
    this.aheadBytes = 0;
    this.window = READ_AHEAD_MIN_BYTES;
    this.lastDemand = 0;
  }

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
   * Makes sure the bodies of these messages are cached; returns their section records. A message
   * missing from the result no longer exists upstream.
   */
  async ensure(metas: readonly MessageMeta[], priority: Priority): Promise<Map<Uid, SectionRecord>> {
    const { store, pool, freshBodies } = this.folder.account;
    const fid = this.folder.fid as string;
    const result = new Map<Uid, SectionRecord>();
    if (metas.length === 0) return result;
    const toRead: MessageMeta[] = [];
    for (const meta of metas) {
      const fresh = freshBodies.take(fid, meta.uid);
      if (fresh) result.set(meta.uid, fresh);
      else toRead.push(meta);
    }
    const records = toRead.length ? await store.getSections(fid, toRead.map((m) => ({ uid: m.uid, section: FULL_BODY }))) : [];
    const missing: MessageMeta[] = [];
    toRead.forEach((meta, i) => {
      const record = records[i];
      if (record) result.set(meta.uid, record);
      else missing.push(meta);
    });
    if (priority !== Priority.Background) this.noteDemand(metas[metas.length - 1]?.uid as Uid);
    const { served } = this.folder.account;
    for (const record of result.values()) served.note('cache', record.length);
    for (const meta of missing) served.note('upstream', meta.size);
    if (missing.length === 0) return result;

    const toFetch: MessageMeta[] = [];
    for (const meta of missing) {
      const running = this.inflight.get(meta.uid);
      if (running && priority === Priority.Client) pool.promote(running.request);
      if (!running) toFetch.push(meta);
    }
    this.schedule(toFetch, priority);
    const fetched = await Promise.all(
      missing.map((meta) => {
        const entry = this.inflight.get(meta.uid) as InFlight;
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
    const cached = await this.cachedUids();
    const missing = metas.filter((meta) => !cached.has(meta.uid));
    this.schedule(missing.filter((meta) => !this.inflight.has(meta.uid)), Priority.Background);
    await Promise.all(missing.map((meta) => this.inflight.get(meta.uid)?.stored.promise));
    return missing.reduce((sum, meta) => sum + meta.size, 0);
  }

  /** UIDs of this folder whose body is not cached yet, ascending. */
  async uncached(): Promise<Uid[]> {
    const cached = await this.cachedUids();
    return this.folder.uids.filter((uid) => !cached.has(uid));
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
        // a large body gets a connection of its own, so small ones are not held up behind it
        this.runBatch([meta], priority);
        continue;
      }
      if (batch.length >= BODY_BATCH_MAX_MESSAGES || batchBytes + meta.size > BODY_BATCH_MAX_BYTES) flush();
      batch.push(meta);
      batchBytes += meta.size;
    }
    flush();
  }

  private runBatch(metas: readonly MessageMeta[], priority: Priority): void {
    const { store, pool } = this.folder.account;
    const fid = this.folder.fid as string;
    const generation = this.generation;
    const request: PoolRequest = { folder: this.folder.path, priority };
    const pending = new Map<Uid, InFlight>();
    for (const meta of metas) {
      const entry: InFlight = { ...deferred<SectionRecord | undefined>(), request, awaited: false, stored: deferred() };
      pending.set(meta.uid, entry);
      this.inflight.set(meta.uid, entry);
    }
    // an entry leaves the in-flight map once its body is readable from the cache
    const leave = (uid: Uid, entry: InFlight, err?: unknown) => {
      if (this.inflight.get(uid) === entry) this.inflight.delete(uid);
      if (err) entry.stored.reject(err);
      else entry.stored.resolve();
    };
    pool
      .run(request, (conn) =>
        fetchSectionsInto(conn, store, fid, [...pending.keys()], '', FULL_BODY, 'scan', (uid, record, written) => {
          const entry = pending.get(uid);
          if (!entry) return;
          pending.delete(uid);
          entry.resolve(record);
          // kept for a client reading right behind the read-ahead; the background fill keeps nothing
          if (record?.inline && !entry.awaited && request.priority === Priority.ReadAhead) {
            this.folder.account.freshBodies.put(fid, uid, record);
          }
          written.then(
            () => {
              if (record && generation === this.generation) void this.cached?.then((set) => set.add(uid));
              leave(uid, entry);
            },
            (err: unknown) => {
              this.folder.account.log.warn({ err, folder: this.folder.path, uid }, 'a fetched body could not be cached');
              leave(uid, entry, err);
            },
          );
        }),
      )
      .then(
        () => pending.forEach((entry, uid) => (entry.resolve(undefined), leave(uid, entry))),
        (err: unknown) => pending.forEach((entry, uid) => (entry.reject(err), leave(uid, entry, err))),
      );
  }

  private cachedUids(): Promise<Set<Uid>> {
    this.cached ??= this.folder.account.store.loadSectionUids(this.folder.fid as string, FULL_BODY);
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
      .catch((err: unknown) => this.folder.account.log.debug({ err, folder: this.folder.path }, 'read-ahead stopped'))
      .finally(() => {
        this.extending = false;
      });
  }

  private async extendReadAhead(): Promise<void> {
    const generation = this.generation;
    while (this.aheadBytes < this.window && this.ahead.length < READ_AHEAD_MESSAGES) {
      const cached = await this.cachedUids();
      const uids = this.folder.uids;
      const candidates: Uid[] = [];
      for (let i = lowerBound(uids, this.cursor + 1); i < uids.length && candidates.length < BODY_BATCH_MAX_MESSAGES; i++) {
        const uid = uids[i] as Uid;
        if (!cached.has(uid) && !this.inflight.has(uid)) candidates.push(uid);
      }
      if (candidates.length === 0) return;
      const metas = await this.folder.account.store.getMetas(this.folder.fid as string, candidates);
      if (generation !== this.generation) return;
      const take: MessageMeta[] = [];
      for (const meta of metas) {
        if (!meta) continue;
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
