import type { Level } from 'level';
import type { BodyStore } from './body-store.js';
import { keys } from './keys.js';
import type { ChunkRange } from './records.js';
import type { BatchOp, WriteQueue } from './write-queue.js';

/** A key the ledger has queued a write of, not applied yet: what it will hold, and how many such writes there are. */
interface Pending {
  value: Buffer | undefined;
  writes: number;
}

/**
 * One step of the ledger: reads see the metadata database as it will be once every write queued
 * by earlier steps is applied (and this step's own writes); the writes go in one batch.
 */
export class LedgerView {
  readonly ops: BatchOp[] = [];
  /** Chunks nothing refers to once the step's batch is applied: dropped then. */
  readonly drops: ChunkRange[] = [];
  /** Chunks of a copy written just before and not kept: dropped then, and their space given back (BodyStore.drop). */
  readonly copies: ChunkRange[] = [];
  /** The keys this step read or wrote, with what they hold for it. */
  readonly values = new Map<string, Buffer | undefined>();
  readonly written = new Set<string>();

  constructor(
    private readonly db: Level<string, Buffer>,
    private readonly pending: ReadonlyMap<string, Pending>,
    private readonly ahead: ReadonlyMap<string, Buffer | undefined>,
  ) {}

  /** Reads these keys (those not read or written by the step yet), in one database read. */
  async load(keys: readonly string[]): Promise<void> {
    const missing: string[] = [];
    for (const key of new Set(keys)) {
      if (this.values.has(key)) continue;
      const queued = this.pending.get(key);
      if (queued) this.values.set(key, queued.value);
      else if (this.ahead.has(key)) this.values.set(key, this.ahead.get(key));
      else missing.push(key);
    }
    if (missing.length === 0) return;
    const read = await this.db.getMany(missing);
    missing.forEach((key, i) => this.values.set(key, read[i]));
  }

  /** A key loaded before. */
  get(key: string): Buffer | undefined {
    if (!this.values.has(key)) throw new Error(`ledger: ${key} read without being loaded`);
    return this.values.get(key);
  }

  put(key: string, value: Buffer): void {
    this.values.set(key, value);
    this.written.add(key);
    this.ops.push({ type: 'put', key, value });
  }

  del(key: string): void {
    this.values.set(key, undefined);
    this.written.add(key);
    this.ops.push({ type: 'del', key });
  }

  /** Writes to keys the ledger does not keep track of, in the same batch. */
  also(ops: readonly BatchOp[]): void {
    this.ops.push(...ops);
  }

  /**
   * Chunks of a copy written just before and not kept: dropped after the batch and their space
   * compacted away, noted in the batch (keys.ts `r!`) until that is done, so a restart resumes it.
   */
  dropCopy(ranges: readonly ChunkRange[]): void {
    for (const range of ranges) {
      if (range.count === 0) continue;
      this.copies.push(range);
      this.ops.push({ type: 'put', key: keys.reclaim(range.start), value: String(range.count) });
    }
  }
}

interface Planned<T> {
  result: T;
  written: Promise<void>;
  drops: ChunkRange[];
  copies: ChunkRange[];
}

interface Step {
  plan: (view: LedgerView) => unknown;
  keys: readonly string[];
  resolve: (planned: Planned<unknown>) => void;
  reject: (err: unknown) => void;
}

/**
 * Serialises the writes that must read before they write: reference counts of stored contents
 * (body-contents.ts) and the section records that hold those references. Steps are planned one
 * at a time, in the order they were asked for; each one's batch is queued at once (not awaited),
 * and the keys it wrote are remembered until the batch is applied, so the next step reads what
 * the database will hold. Steps asked for while others are planned are planned together, the
 * keys they name read in one database read (a batch of bodies from upstream: one read, not one
 * each). A count and the records it counts change in one batch: a crash leaves both as they were
 * or both changed. Chunks a step frees are dropped after its batch is applied (a crash between
 * leaves chunks nothing refers to, swept at the next start).
 */
export class Ledger {
  private readonly pending = new Map<string, Pending>();
  private queue: Step[] = [];
  private planning = false;
  /** The keys the steps being planned named, read ahead; a key a step writes leaves it (pending has it). */
  private readonly ahead = new Map<string, Buffer | undefined>();

  constructor(
    private readonly db: Level<string, Buffer>,
    private readonly writes: WriteQueue,
    private readonly bodies: BodyStore,
  ) {}

  /** What a key holds as far as the steps planned so far go, without waiting for those queued: a hint for a step to come. */
  peek(key: string): Promise<Buffer | undefined> {
    const queued = this.pending.get(key);
    return queued ? Promise.resolve(queued.value) : this.db.get(key);
  }

  /**
   * Runs a step after those asked for before it (`keys`: what it reads first); resolves with its
   * result once its batch is applied and what it freed dropped.
   */
  async run<T>(plan: (view: LedgerView) => Promise<T> | T, keys: readonly string[] = []): Promise<T> {
    const planned = new Promise<Planned<unknown>>((resolve, reject) => this.queue.push({ plan, keys, resolve, reject }));
    if (!this.planning) void this.planQueued();
    const { result, written, drops, copies } = await planned;
    await written;
    await this.bodies.drop(drops);
    await this.bodies.drop(copies, { reclaim: true });
    return result as T;
  }

  private async planQueued(): Promise<void> {
    this.planning = true;
    while (this.queue.length > 0) {
      const group = this.queue.splice(0);
      const keys = [...new Set(group.flatMap((step) => step.keys))].filter((key) => !this.pending.has(key));
      // a failed read ahead is read again by each step
      const values = keys.length ? await this.db.getMany(keys).catch(() => undefined) : undefined;
      values?.forEach((value, i) => this.ahead.set(keys[i] as string, value));
      for (const step of group) {
        try {
          step.resolve(await this.plan(step.plan));
        } catch (err) {
          step.reject(err);
        }
      }
      this.ahead.clear();
    }
    this.planning = false;
  }

  private async plan(plan: (view: LedgerView) => unknown): Promise<Planned<unknown>> {
    const view = new LedgerView(this.db, this.pending, this.ahead);
    const result = await plan(view);
    for (const key of view.written) {
      this.ahead.delete(key);
      const entry = this.pending.get(key);
      if (entry) {
        entry.value = view.values.get(key);
        entry.writes++;
      } else {
        this.pending.set(key, { value: view.values.get(key), writes: 1 });
      }
    }
    const written = this.writes.write(view.ops);
    written.then(
      () => this.applied(view.written),
      // what the failed batch would have written is not what the database holds: read it again
      () => view.written.forEach((key) => this.pending.delete(key)),
    );
    return { result, written, drops: view.drops, copies: view.copies };
  }

  private applied(keys: ReadonlySet<string>): void {
    for (const key of keys) {
      const entry = this.pending.get(key);
      if (entry && --entry.writes === 0) this.pending.delete(key);
    }
  }
}
