import type { SectionRecord } from '../cache/cache-store.js';
import type { MessageMeta, Uid } from '../model/types.js';

/**
 * Sorts messages by what a cache read found for each (`records`, in the same order): the records
 * go into `found`, and the messages without one are returned.
 */
export function splitCached(metas: readonly MessageMeta[], records: readonly (SectionRecord | undefined)[], found: Map<Uid, SectionRecord>): MessageMeta[] {
  const missing: MessageMeta[] = [];
  metas.forEach((meta, i) => {
    const record = records[i];
    if (record) found.set(meta.uid, record);
    else missing.push(meta);
  });
  return missing;
}
