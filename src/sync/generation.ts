import type { FolderRecord } from '../cache/cache-store.js';
import type { FolderPath, Uid } from '../model/types.js';
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
}
