import { Level } from 'level';
import { BODY_CHUNK_SIZE, RECLAIM_CHUNKS } from '../model/limits.js';
import type { ChunkRange } from './records.js';
import { cacheBytesRead } from './gc-pacer.js';
import { WriteQueue } from './write-queue.js';

/** Chunk keys: a sequence number in fixed-width hex, so key order is write order. */
const chunkKey = (seq: number) => seq.toString(16).padStart(12, '0');

/**
 * The bodies database: the bytes of every cached section, in chunks of BODY_CHUNK_SIZE keyed by
 * a sequence number that only grows. Writes therefore always append at the end of the key space,
 * and LevelDB moves the tables it flushes down the levels without rewriting them: each byte is
 * written twice (log and table) instead of once per level, as it would be interleaved with
 * other keys. Section records in the metadata database say which chunks hold what.
 */
interface DeferredDrop {
  ranges: readonly ChunkRange[];
  /** The reads it waits for. */
  waitFor: Set<number>;
  reclaim: boolean;
}

export class BodyStore {
  private readonly writes: WriteQueue;
  /** Reads in progress (beginRead), and the drops that wait for those that began before them. */
  private readonly readers = new Set<number>();
  private nextReader = 0;
  private readonly deferred: DeferredDrop[] = [];
  /** First chunks of appends whose section record is not written (or given up) yet. */
  private readonly unsettled = new Set<number>();
  /** Dropped chunks whose space is to be given back (reclaim), and whether a compaction runs. */
  private readonly toReclaim: ChunkRange[] = [];
  private reclaiming = false;
  private closed = false;
  /** Called when the space of a range given to drop with `reclaim` has been given back. */
  onReclaimed: ((range: ChunkRange) => void) | undefined;

  private constructor(
    private readonly db: Level<string, Buffer>,
    private nextSeq: number,
  ) {
    this.writes = new WriteQueue(db);
  }

  static async open(dir: string): Promise<BodyStore> {
    const db = new Level<string, Buffer>(dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'buffer',
      // message bodies do not compress with snappy; skip the CPU
      compression: false,
      // the memtable is anonymous memory; keys only ever grow, so small tables cost no compaction
      writeBufferSize: 4 * 1024 * 1024,
      maxFileSize: 32 * 1024 * 1024,
      // a body is read once per client, rarely again soon: keep the block cache for metadata
      cacheSize: 2 * 1024 * 1024,
    });
    await db.open();
    let nextSeq = 0;
    for await (const key of db.keys({ reverse: true, limit: 1 })) nextSeq = parseInt(key, 16) + 1;
    return new BodyStore(db, nextSeq);
  }

  /**
   * Queues pieces (each at most one chunk) as consecutive chunks. Sequence numbers are taken in
   * call order, which is also the order of the writes. `written` resolves when they are readable.
   * The range counts as in flight until the caller settles it (its record is written, or it is
   * given up): cache verify never takes chunks in flight for orphans.
   */
  append(pieces: readonly Buffer[]): { range: ChunkRange; written: Promise<void> } {
    const start = this.nextSeq;
    this.nextSeq += pieces.length;
    this.unsettled.add(start);
    const written = this.writes.write(pieces.map((value, i) => ({ type: 'put', key: chunkKey(start + i), value })));
    return { range: { start, count: pieces.length }, written };
  }

  settle(ranges: readonly ChunkRange[]): void {
    for (const range of ranges) for (let seq = range.start; seq < range.start + range.count; seq++) this.unsettled.delete(seq);
  }

  /** No chunk is in flight: each one written is referenced by a record, or was dropped. */
  allSettled(): boolean {
    return this.unsettled.size === 0;
  }

  /** Every chunk below this sequence number is settled: referenced by a record, or an orphan. */
  settledBelow(): number {
    let lowest = this.nextSeq;
    for (const start of this.unsettled) lowest = Math.min(lowest, start);
    return lowest;
  }

  /**
   * Sequence numbers of the stored chunks below `limit` that no record claims, ascending.
   * `claimedUntil(seq)` is the end of the claimed run that holds seq, if any: the iterator seeks
   * past it, so only the first chunk of each run is read, not every byte of the cache.
   */
  async *unclaimedChunks(limit: number, claimedUntil: (seq: number) => number | undefined): AsyncGenerator<number> {
    const iterator = this.db.keys({ lt: chunkKey(limit) });
    try {
      for (let key = await iterator.next(); key !== undefined; key = await iterator.next()) {
        const seq = parseInt(key, 16);
        const end = claimedUntil(seq);
        if (end === undefined) yield seq;
        else iterator.seek(chunkKey(end));
      }
    } finally {
      await iterator.close();
    }
  }

  /** Waits while much is queued: producers of bulk data call this before appending. */
  space(): Promise<void> {
    return this.writes.space();
  }

  /** Chunks by sequence number, read from one snapshot; undefined for a chunk that is gone. */
  async getChunks(seqs: readonly number[], snapshot?: ReturnType<Level<string, Buffer>['snapshot']>): Promise<(Buffer | undefined)[]> {
    const chunks = await this.db.getMany(seqs.map(chunkKey), { fillCache: false, ...(snapshot ? { snapshot } : {}) });
    cacheBytesRead(chunks.reduce((sum, chunk) => sum + (chunk?.length ?? 0), 0));
    return chunks;
  }

  /** One chunk read on the calling thread (for a small section: SYNC_READ_MAX), undefined if it is gone. */
  getChunkSync(seq: number): Buffer | undefined {
    // classic-level takes fillCache here too; abstract-level's types do not list it
    const chunk = this.db.getSync(chunkKey(seq), { fillCache: false } as never);
    cacheBytesRead(chunk?.length ?? 0);
    return chunk;
  }

  snapshot(): ReturnType<Level<string, Buffer>['snapshot']> {
    return this.db.snapshot();
  }

  /**
   * A read that takes section records and then their chunks (a FETCH batch): chunks dropped
   * meanwhile (a message expunged by another session) stay until it ends, so it reads its
   * bodies to the end. Call the returned function when it has opened every section it read.
   */
  beginRead(): () => void {
    const id = this.nextReader++;
    this.readers.add(id);
    return () => {
      if (!this.readers.delete(id)) return;
      for (const drop of [...this.deferred]) {
        drop.waitFor.delete(id);
        if (drop.waitFor.size === 0) this.runDeferred(drop);
      }
    };
  }

  /**
   * Deletes chunks nothing refers to any more, once the reads that began before are done. With
   * `reclaim`, their space is given back soon too (see reclaim).
   */
  async drop(ranges: readonly ChunkRange[], options: { reclaim?: boolean } = {}): Promise<void> {
    const reclaim = options.reclaim === true;
    if (this.readers.size > 0) {
      this.deferred.push({ ranges, waitFor: new Set(this.readers), reclaim });
      return;
    }
    await this.deleteChunks(ranges, reclaim);
  }

  private runDeferred(drop: DeferredDrop): void {
    this.deferred.splice(this.deferred.indexOf(drop), 1);
    // a failed delete leaves chunks nothing refers to: cache verify reports and removes them
    this.deleteChunks(drop.ranges, drop.reclaim).catch(() => undefined);
  }

  /**
   * Chunks deleted right after they were written (a second copy of a body, dropped once its hash
   * showed it stored already) stay in LevelDB's tables with their deletion until a compaction
   * rewrites those tables, and with keys that only grow none may: their ranges (deleted already)
   * are compacted in the background, one compaction of at most RECLAIM_CHUNKS at a time (a stop
   * waits for one); onReclaimed is told of each range done.
   */
  reclaim(ranges: readonly ChunkRange[]): void {
    this.toReclaim.push(...ranges.filter((range) => range.count > 0));
    if (this.reclaiming || this.toReclaim.length === 0) return;
    this.reclaiming = true;
    void (async () => {
      for (let range = this.toReclaim.shift(); range && !this.closed; range = this.toReclaim.shift()) {
        try {
          for (let at = range.start; at < range.start + range.count && !this.closed; at += RECLAIM_CHUNKS) {
            await this.compactRange(at, Math.min(at + RECLAIM_CHUNKS, range.start + range.count));
          }
          if (!this.closed) this.onReclaimed?.(range);
        } catch {
          // tried again at the next start
        }
      }
      this.reclaiming = false;
    })();
  }

  private async deleteChunks(ranges: readonly ChunkRange[], reclaim = false): Promise<void> {
    for (const range of ranges) {
      await this.writes.write(Array.from({ length: range.count }, (_, i) => ({ type: 'del' as const, key: chunkKey(range.start + i) })));
    }
    if (reclaim) this.reclaim(ranges);
  }

  /** Gives the space of dropped chunks back to the disk (LevelDB otherwise does it slowly). */
  compact(): Promise<void> {
    return this.compactRange(0, this.nextSeq);
  }

  private async compactRange(start: number, end: number): Promise<void> {
    // level's Level is classic-level's ClassicLevel on Node; its type does not carry compactRange
    const db = this.db as unknown as { compactRange(start: string, end: string): Promise<void> };
    await db.compactRange(chunkKey(start), chunkKey(end));
  }

  get writing(): boolean {
    return this.writes.busy;
  }

  /** Resolves when every chunk queued so far is written (or failed). */
  writesDone(): Promise<void> {
    return this.writes.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    // reads still open end with the process: what they held back is deleted now
    this.readers.clear();
    for (const drop of this.deferred.splice(0)) await this.deleteChunks(drop.ranges);
    await this.db.close();
  }
}

/** Splits bytes into chunk-sized pieces (views, no copies). */
export function toChunks(bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let pos = 0; pos < bytes.length; pos += BODY_CHUNK_SIZE) pieces.push(bytes.subarray(pos, pos + BODY_CHUNK_SIZE));
  return pieces;
}
