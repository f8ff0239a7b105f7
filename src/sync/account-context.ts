import type { ClientActivity } from './client-activity.js';
import type { CacheStore } from '../cache/cache-store.js';
import type { Logger } from '../log.js';
import type { AccountId, FolderPath, Uid } from '../model/types.js';
import type { ConnectionPool } from '../upstream/connection-pool.js';
import type { FreshBodies } from './fresh-bodies.js';
import type { ServedCounter } from './served-counter.js';

/** What every per-account component needs: its cache namespace, cache and upstream pool. */
export interface AccountContext {
  readonly id: AccountId;
  readonly user: string;
  readonly store: CacheStore;
  readonly pool: ConnectionPool;
  readonly log: Logger;
  readonly freshBodies: FreshBodies;
  readonly served: ServedCounter;
  /** Client commands in progress: the background sync waits for them. */
  readonly clients: ClientActivity;
}

/** What the components that fill one folder generation's cache work with (generation.ts). */
export interface GenerationContext {
  readonly account: AccountContext;
  readonly path: FolderPath;
  readonly fid: string;
  /** The UIDs cached under this generation, ascending (replaced, never changed in place). */
  readonly uids: readonly Uid[];
}
