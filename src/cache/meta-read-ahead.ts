import type { MessageMeta, Uid } from '../model/types.js';
import { keys, prefixEnd } from './keys.js';
import type { BatchOp } from './write-queue.js';
import { META_READ_AHEAD_WINDOWS } from '../model/limits.js';


const META_KEY = /^x!([^!]+)!m!/;

interface Window {
  /** The folder's write generation the window was read at. */
  generation: number;
  /** The UIDs read: every message from `from` through `through` that existed then. */
  from: Uid;
  through: Uid;
  metas: Map<Uid, MessageMeta>;
}

/**
 * Message metadata read ahead of clients that fetch one message per command (mbsync, most
 * clients downloading a folder): a miss reads the records asked for and META_READ_AHEAD more
 * of the folder in one LevelDB call, and the following commands find theirs in memory instead
 * of each waiting for a round trip through the thread pool (with a busy event loop, most of a
 * cold pull's time per command). Bounded: META_READ_AHEAD_WINDOWS folders, each with META_READ_AHEAD records
 * plus one FETCH batch.
 *
 * Coherent by write generations: every queued and every applied write that touches a folder's
 * metadata bumps its generation and drops its window, and a read stores its window only if no
 * such write happened while it ran.
 */
export class MetaReadAhead {
  private readonly windows = new Map<string, Window>();
  /** One counter per folder generation written to since the start: a number per folder. */
  private readonly generations = new Map<string, number>();

  generation(fid: string): number {
    return this.generations.get(fid) ?? 0;
  }

  /**
   * The metadata of these messages from the folder's window (undefined: no such message), or
   * undefined when any of them lies outside the window.
   */
  lookup(fid: string, uids: readonly Uid[]): (MessageMeta | undefined)[] | undefined {
    const window = this.windows.get(fid);
    if (!window || window.generation !== this.generation(fid)) return undefined;
    const found: (MessageMeta | undefined)[] = [];
    for (const uid of uids) {
      if (uid < window.from || uid > window.through) return undefined;
      found.push(window.metas.get(uid));
    }
    return found;
  }

  /**
   * Stores what a read of the folder's messages from `from` through `through`, started at
   * `generation`, found; unless a write to the folder's metadata came in between.
   */
  store(fid: string, generation: number, from: Uid, through: Uid, metas: readonly MessageMeta[]): void {
    if (generation !== this.generation(fid)) return;
    this.windows.delete(fid);
    if (this.windows.size >= META_READ_AHEAD_WINDOWS) this.windows.delete(this.windows.keys().next().value as string);
    this.windows.set(fid, { generation, from, through, metas: new Map(metas.map((meta) => [meta.uid, meta])) });
  }

  /** Called with every metadata write, when it is queued and again when it is applied. */
  written(ops: readonly BatchOp[]): void {
    let last: string | undefined;
    for (const op of ops) {
      const fid = META_KEY.exec(op.key)?.[1];
      if (fid === undefined || fid === last) continue;
      last = fid;
      this.forget(fid);
    }
  }

  /** Drops a folder generation's window (its data was deleted another way). */
  forget(fid: string): void {
    this.generations.set(fid, this.generation(fid) + 1);
    this.windows.delete(fid);
  }
}

/** The key range a read ahead from `uid` covers. */
export function readAheadRange(fid: string, uid: Uid): { gte: string; lt: string } {
  return { gte: keys.meta(fid, uid), lt: prefixEnd(keys.metaPrefix(fid)) };
}
