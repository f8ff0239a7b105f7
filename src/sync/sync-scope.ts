import { FLAG_WINDOWS_MAX } from '../model/limits.js';

/**
 * How much a sync looks at where upstream has no CONDSTORE (with CONDSTORE it asks what changed
 * since, whatever the scope; folder-sync.ts):
 * - `full`: every message's flags compared with upstream's (a client's SELECT or NOOP);
 * - `quick`: new mail and expunges only, at a cost that does not grow with the folder (writes
 *   through the proxy, the watcher's STATUS polls, the background sync);
 * - `flagsAt`: a quick sync, and the flags of the messages around these sequence numbers (IDLE
 *   said their flags changed, numbered as upstream numbered them then).
 */
export type SyncScope = 'full' | 'quick' | { flagsAt: readonly number[] };

/** The scope of one sync for two reasons to sync: one that finds what either would. */
export function widerScope(a: SyncScope, b: SyncScope): SyncScope {
  if (a === 'full' || b === 'full') return 'full';
  if (a === 'quick') return b;
  if (b === 'quick') return a;
  const flagsAt = [...new Set([...a.flagsAt, ...b.flagsAt])];
  return flagsAt.length > FLAG_WINDOWS_MAX ? 'full' : { flagsAt };
}

/** Whether a sync of scope `running`, under way, finds what one of scope `asked` would. */
export function covers(running: SyncScope, asked: SyncScope): boolean {
  return running === 'full' || asked === 'quick';
}
