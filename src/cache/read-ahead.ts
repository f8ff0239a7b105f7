import type { Uid } from '../model/types.js';
import { READ_AHEAD_FOLLOWS, READ_AHEAD_WINDOWS } from '../model/limits.js';
import type { BatchOp } from './write-queue.js';

interface Window<V> {
  /** The folder's write generation the window was read at. */
  generation: number;
  /** The UIDs read: every message from `from` through `through` that existed then. */
  from: Uid;
  through: Uid;
  values: Map<Uid, V>;
}

/**
 * Records of one kind (message metadata, section records) read ahead of clients that fetch one
 * message per command (mbsync, most clients downloading a folder, webmail opening messages): a
 * miss reads the records asked for and more of the folder in one LevelDB call, and the
 * following commands find theirs in memory instead of each waiting for a round trip through the
 * thread pool (with a busy event loop, most of a cold pull's time per command). Bounded:
 * READ_AHEAD_WINDOWS folders, each with what one read returns.
 *
 * Coherent by write generations: every queued and every applied write to a folder's records of
 * this kind bumps its generation and drops its window, and a read stores its window only if no
 * such write happened while it ran.
 */
export class ReadAheadWindows<V> {
  private readonly windows = new Map<string, Window<V>>();
  /** One counter per folder generation written to since the start: a number per folder. */
  private readonly generations = new Map<string, number>();
  /** Per folder, the highest UID asked for last. */
  private readonly lastAsked = new Map<string, Uid>();

  /** `kind`: the key part of the records ("m" metadata, "h" sections; see keys.ts). */
  constructor(private readonly kind: string) {}

  generation(fid: string): number {
    return this.generations.get(fid) ?? 0;
  }

  /**
   * The records of these messages from the folder's window (undefined: the message has none), or
   * undefined when any of them lies outside the window.
   */
  lookup(fid: string, uids: readonly Uid[]): (V | undefined)[] | undefined {
    const window = this.windows.get(fid);
    if (!window || window.generation !== this.generation(fid)) return undefined;
    const found: (V | undefined)[] = [];
    for (const uid of uids) {
      if (uid < window.from || uid > window.through) return undefined;
      found.push(window.values.get(uid));
    }
    return found;
  }

  /**
   * Whether these UIDs follow closely on those asked for before in the folder (a client reading
   * in order: a read ahead for it is used), remembering them. Where clients jump about, a window
   * read for each command would be thrown away by the next one, or by the next write.
   */
  inOrder(fid: string, uids: readonly Uid[]): boolean {
    const before = this.lastAsked.get(fid);
    const first = Math.min(...uids);
    this.lastAsked.delete(fid);
    if (this.lastAsked.size >= READ_AHEAD_WINDOWS) this.lastAsked.delete(this.lastAsked.keys().next().value as string);
    this.lastAsked.set(fid, Math.max(...uids));
    return before !== undefined && first > before && first - before <= READ_AHEAD_FOLLOWS;
  }

  /**
   * Stores what a read of the folder's messages from `from` through `through`, started at
   * `generation`, found; unless a write to the folder's records came in between.
   */
  store(fid: string, generation: number, from: Uid, through: Uid, values: Map<Uid, V>): void {
    if (generation !== this.generation(fid)) return;
    this.windows.delete(fid);
    if (this.windows.size >= READ_AHEAD_WINDOWS) this.windows.delete(this.windows.keys().next().value as string);
    this.windows.set(fid, { generation, from, through, values });
  }

  /** Called with every metadata database write, when it is queued and again when it is applied. */
  written(ops: readonly BatchOp[]): void {
    let last: string | undefined;
    for (const op of ops) {
      const key = op.key;
      if (!key.startsWith('x!')) continue;
      const end = key.indexOf('!', 2);
      if (end < 0 || key.slice(end + 1, end + 3) !== `${this.kind}!`) continue;
      const fid = key.slice(2, end);
      if (fid === last) continue;
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
