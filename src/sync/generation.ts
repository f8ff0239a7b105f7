import type { FolderRecord } from '../cache/cache-store.js';
import type { FolderPath, Uid } from '../model/types.js';
import { lowerBound } from '../model/uid-set.js';
import type { AccountContext, GenerationContext } from './account-context.js';
import { BodyFetcher } from './body-fetcher.js';
import { ItemFetcher } from './item-fetcher.js';

/**
 * One cache generation of a folder: the record that names its fid, the UIDs cached under it,
 * and the fetchers that fill it. A new UIDVALIDITY upstream starts a new generation object, so
 * nothing of the old one has to be reset: work still running for it finishes against the old
 * fid, whose data is deleted in the background.
 */
export class FolderGeneration implements GenerationContext {
  readonly bodies: BodyFetcher;
  readonly items: ItemFetcher;
  /**
   * How many of the first messages are known to be \Seen: where the search for the first unseen
   * message (SELECT's UNSEEN) starts. Lowered to a message whose flags changed or that went.
   */
  seenPrefix = 0;
  /** The message right after the known \Seen prefix is known to be without \Seen: it is the first unseen one. */
  unseenFound = false;

  constructor(
    readonly account: AccountContext,
    readonly path: FolderPath,
    /** Replaced as the folder changes, by the folder alone. */
    public record: FolderRecord,
    /** Ascending; replaced, never changed in place: views handed out stay valid. */
    public uids: Uid[],
  ) {
    this.bodies = new BodyFetcher(this);
    this.items = new ItemFetcher(this);
  }

  get fid(): string {
    return this.record.fid;
  }

  /** Messages changed or went: the known \Seen prefix ends before the first of them. */
  flagsMayHaveChanged(uids: readonly Uid[]): void {
    for (const uid of uids) {
      const at = lowerBound(this.uids, uid);
      if (at > this.seenPrefix) continue;
      this.seenPrefix = at;
      this.unseenFound = false;
    }
  }
}
