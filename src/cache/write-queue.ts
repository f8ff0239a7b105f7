import type { Level } from 'level';
import { WRITE_GROUP_BYTES, WRITE_QUEUE_BYTES } from '../model/limits.js';
import { cacheBytesWritten } from './gc-pacer.js';

/** One operation of a LevelDB batch. */
export type BatchOp = { type: 'put'; key: string; value: Buffer | string } | { type: 'del'; key: string };


interface Entry {
  ops: BatchOp[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The single path of every write to LevelDB. Writes are applied in the order they were queued
 * (so a delete can never overtake an earlier put of the same key) and grouped while LevelDB is
 * busy with the previous batch: one large batch costs far less than many small ones.
 */
export class WriteQueue {
  private queue: Entry[] = [];
  private queuedBytes = 0;
  private running = false;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  /** `observe` sees every write twice: when it is queued and when it is applied (or failed). */
  constructor(
    private readonly db: Level<string, Buffer>,
    private readonly observe?: (ops: readonly BatchOp[]) => void,
  ) {}

  /** Resolves once the operations are in LevelDB (visible to reads). */
  write(ops: BatchOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const op of ops) bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    this.observe?.(ops);
    cacheBytesWritten(bytes);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, bytes, resolve, reject });
      this.queuedBytes += bytes;
      if (!this.running) void this.run();
    });
  }

  /** Waits until there is room in the queue: producers of bulk data call this before writing. */
  async space(): Promise<void> {
    while (this.queuedBytes >= WRITE_QUEUE_BYTES) await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Something is queued or being written. */
  get busy(): boolean {
    return this.running;
  }

  /** Resolves when everything queued so far is written (or failed). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const group: Entry[] = [];
      let groupBytes = 0;
      while (this.queue.length > 0 && (group.length === 0 || groupBytes < WRITE_GROUP_BYTES)) {
        const entry = this.queue.shift() as Entry;
        group.push(entry);
        groupBytes += entry.bytes;
      }
      const ops = group.length === 1 ? (group[0] as Entry).ops : group.flatMap((entry) => entry.ops);
      try {
        // the "buffer" value encoding takes strings too (as UTF-8); level's types do not say so
        await this.db.batch(ops as never);
        for (const entry of group) entry.resolve();
      } catch (err) {
        for (const entry of group) entry.reject(err);
      }
      if (this.observe) for (const entry of group) this.observe(entry.ops);
      this.queuedBytes -= groupBytes;
      for (const wake of this.spaceWaiters.splice(0)) wake();
    }
    this.running = false;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
