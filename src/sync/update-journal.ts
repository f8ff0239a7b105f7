import type { Uid } from '../model/types.js';
import { JOURNAL_CAPACITY } from '../model/limits.js';

/** What changed in a folder, as one sync or one write through the proxy saw it, with the modseqs the folder gave it. */
export interface FolderChanges {
  /** New messages, ascending. */
  added: { uid: Uid; modseq: string }[];
  /** Ascending. */
  expunged: Uid[];
  /** The modseq of the expunges (modseq-assigner.ts). */
  expungedAt?: number;
  /** Messages whose flags changed (only real changes). */
  flagged: { uid: Uid; flags: string[]; modseq: string }[];
}

/** One change as imap-core's notifier hands it to a session (EXISTS, EXPUNGE or a FETCH of flags). */
export interface FolderUpdate {
  /** Unique within the journal: imap-core queues a session's updates by it, and skips one without. */
  _id: string;
  command: 'EXISTS' | 'EXPUNGE' | 'FETCH';
  uid: Uid;
  /**
   * The modseq the folder gave the change (entries of one append may share one; every entry of a
   * later append is above all of them). A session asks for everything above what it has seen, so
   * it misses nothing.
   */
  modseq: number;
  flags?: string[];
  /** The session that made the change and has already been told. */
  ignore?: string;
}


/**
 * The recent changes of one folder, for sessions that have it selected, with their modseqs, so a
 * session that has seen up to m asks for everything above m and misses nothing. Appends are
 * synchronous: a session sees all of one append or none of it.
 */
export class UpdateJournal {
  private entries: FolderUpdate[] = [];
  private nextId = 0;
  /** Every change above this modseq is in the journal (Infinity: not known yet). */
  private completeAbove = Number.POSITIVE_INFINITY;

  /**
   * Records changes: expunges first, then new messages, then flag changes, which is the order in
   * which a session's view must apply them.
   */
  append(changes: FolderChanges, origin?: string): FolderUpdate[] {
    const common = () => ({ _id: String(this.nextId++), ...(origin ? { ignore: origin } : {}) });
    const added: FolderUpdate[] = [
      ...changes.expunged.map((uid): FolderUpdate => ({ ...common(), command: 'EXPUNGE', uid, modseq: changes.expungedAt ?? 0 })),
      ...changes.added.map((m): FolderUpdate => ({ ...common(), command: 'EXISTS', uid: m.uid, modseq: Number(m.modseq) })),
      ...changes.flagged.map((m): FolderUpdate => ({ ...common(), command: 'FETCH', uid: m.uid, flags: m.flags, modseq: Number(m.modseq) })),
    ];
    this.entries.push(...added);
    if (this.entries.length > JOURNAL_CAPACITY) {
      const dropped = this.entries.splice(0, this.entries.length - JOURNAL_CAPACITY);
      this.completeAbove = Math.max(this.completeAbove, (dropped[dropped.length - 1] as FolderUpdate).modseq);
    }
    return added;
  }

  /**
   * From now on every change above `modseq` (the cache's HIGHESTMODSEQ before a sync whose
   * changes are appended) is in the journal, until it drops entries or is cleared.
   */
  completeFrom(modseq: number): void {
    if (this.completeAbove === Number.POSITIVE_INFINITY) this.completeAbove = modseq;
  }

  /**
   * The messages that changed or arrived above a modseq, or undefined when the journal does not
   * reach back that far (older changes are only in the cache).
   */
  changedSince(modseq: number): Set<Uid> | undefined {
    if (modseq < this.completeAbove) return undefined;
    // entries of one append are not in modseq order: all of them are looked at (at most JOURNAL_CAPACITY)
    const uids = new Set<Uid>();
    for (const entry of this.entries) if (entry.modseq > modseq) uids.add(entry.uid);
    return uids;
  }

  /** Entries above a modseq, in order. */
  since(modseq: number): FolderUpdate[] {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as FolderUpdate).modseq <= modseq) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo);
  }

  /** A new cache generation (UIDVALIDITY changed): old UIDs mean nothing any more. */
  clear(): void {
    this.entries = [];
    this.completeAbove = Number.POSITIVE_INFINITY;
  }
}
