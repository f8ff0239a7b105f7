import type { CacheStore, FolderRecord, MetaWrite } from '../cache/cache-store.js';
import { META_WRITE_BATCH } from '../model/limits.js';
import type { MessageMeta, Uid } from '../model/types.js';
import { indexOfUid } from '../model/uid-set.js';
import type { ModseqAssigner } from './modseq-assigner.js';
import type { FolderChanges } from './update-journal.js';

export const sameFlags = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((flag) => b.includes(flag));

/**
 * What one sync of a folder finds, written to the cache in batches as it comes: new messages,
 * flag changes (with the proxy's modseqs, upstream's where higher), expunges, and keywords the
 * folder's record does not list yet. The sync's result is built from it (folder-sync.ts).
 */
export class SyncFindings {
  readonly changes: FolderChanges = { added: [], expunged: [], flagged: [] };
  /** New messages' UIDs, in the order found; `quiet` (a new generation's first fill, nobody's news): not listed in the changes too. */
  readonly addedUids: Uid[] = [];
  /** Keywords on messages that the folder's record does not list (a stale status has no FLAGS list). */
  readonly newKeywords: string[] = [];
  /** The highest UID and upstream modseq among the messages fetched whole. */
  maxUid = 0;
  maxModseq: bigint;
  private readonly keywords: Set<string>;
  /** Fetched whole, not yet compared with the cache. */
  private fetched: MessageMeta[] = [];
  /** Known to have changed, not yet written. */
  private writes: MetaWrite[] = [];

  constructor(
    private readonly store: CacheStore,
    private readonly fid: string,
    /** The UIDs cached when the sync began, ascending. */
    private readonly known: readonly Uid[],
    readonly modseqs: ModseqAssigner,
    record: FolderRecord,
    private readonly quiet: boolean,
  ) {
    this.keywords = new Set(record.keywords ?? []);
    this.maxModseq = BigInt(record.highestModseq);
  }

  /** Flags upstream reported for a message: keywords not seen before are noted. */
  noteFlags(flags: readonly string[]): void {
    for (const flag of flags) {
      if (flag.startsWith('\\') || this.keywords.has(flag)) continue;
      this.keywords.add(flag);
      this.newKeywords.push(flag);
    }
  }

  /** A message's whole metadata (new or known): written in batches, a known message's flags compared with the cache's. */
  async fetchedWhole(meta: MessageMeta): Promise<void> {
    this.noteFlags(meta.flags);
    this.maxUid = Math.max(this.maxUid, meta.uid);
    if (BigInt(meta.modseq) > this.maxModseq) this.maxModseq = BigInt(meta.modseq);
    this.fetched.push(meta);
    if (this.fetched.length >= META_WRITE_BATCH) await this.flush();
  }

  /** A known message whose flags upstream differ from `cached`. */
  async flagsChanged(cached: MessageMeta, flags: string[]): Promise<void> {
    const modseq = String(this.modseqs.next());
    this.changes.flagged.push({ uid: cached.uid, flags, modseq });
    this.writes.push({ meta: { ...cached, flags, modseq }, previousModseq: cached.modseq });
    if (this.writes.length >= META_WRITE_BATCH) await this.flush();
  }

  /** Writes what is pending. */
  async flush(): Promise<void> {
    const batch = this.fetched;
    this.fetched = [];
    const knownMetas = batch.filter((meta) => indexOfUid(this.known, meta.uid) >= 0);
    const before = knownMetas.length ? await this.store.getMetas(this.fid, knownMetas.map((m) => m.uid)) : [];
    const writes: MetaWrite[] = knownMetas.map((meta, i) => {
      const old = before[i];
      const flagsChanged = !old || !sameFlags(old.flags, meta.flags);
      meta.modseq = flagsChanged || !old ? String(this.modseqs.next(meta.modseq)) : old.modseq;
      if (flagsChanged) this.changes.flagged.push({ uid: meta.uid, flags: meta.flags, modseq: meta.modseq });
      return { meta, previousModseq: old?.modseq };
    });
    for (const meta of batch) {
      if (indexOfUid(this.known, meta.uid) >= 0) continue;
      meta.modseq = String(this.modseqs.next(meta.modseq));
      this.addedUids.push(meta.uid);
      if (!this.quiet) this.changes.added.push({ uid: meta.uid, modseq: meta.modseq });
      writes.push({ meta });
    }
    writes.push(...this.writes);
    this.writes = [];
    if (writes.length) await this.store.putMetas(this.fid, writes);
  }
}
