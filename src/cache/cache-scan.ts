import type { Level } from 'level';
import { VERIFY_BATCH } from '../model/limits.js';
import { keys, parseSectionKey, prefixEnd } from './keys.js';

/** Reads over the whole cache from one snapshot (cache verify, the sweep at start, the migration to contents). */

export interface SectionEntry {
  key: string;
  value: Buffer;
  uid: number;
  /** The section's key part: FULL_BODY, HEADER, a part path, or a hash. */
  part: string;
}

export type Snapshot = ReturnType<Level<string, Buffer>['snapshot']>;

/** The folder generations that hold data: one key read per generation (the iterator seeks past the rest). */
export async function generations(db: Level<string, Buffer>, snapshot: Snapshot): Promise<string[]> {
  const fids: string[] = [];
  const iterator = db.keys({ gte: 'x!', lt: prefixEnd('x!'), snapshot } as never);
  try {
    for (let key = await iterator.next(); key !== undefined; key = await iterator.next()) {
      const fid = key.split('!')[1] as string;
      fids.push(fid);
      iterator.seek(prefixEnd(keys.folderData(fid)));
    }
  } finally {
    await iterator.close();
  }
  return fids;
}

export async function* sectionBatches(db: Level<string, Buffer>, snapshot: Snapshot, fid: string): AsyncGenerator<SectionEntry[]> {
  const prefix = keys.sectionPrefix(fid);
  const batch: SectionEntry[] = [];
  for await (const [key, value] of db.iterator({ gte: prefix, lt: prefixEnd(prefix), snapshot } as never)) {
    batch.push({ key: key as string, value: value as Buffer, ...parseSectionKey(prefix, key as string) });
    if (batch.length >= VERIFY_BATCH) yield batch.splice(0);
  }
  if (batch.length > 0) yield batch;
}

