import type { Level } from 'level';
import { REF_COUNT_BUCKET, VERIFY_BATCH } from '../model/limits.js';
import { contentIdOf, type BodyContents } from './body-contents.js';
import { sectionBatches, type Snapshot } from './cache-scan.js';
import { FULL_BODY, keys, parseContentId, prefixEnd } from './keys.js';
import { decodeContent, decodeSection, type ContentRecord } from './records.js';
import type { BatchOp } from './write-queue.js';

/** Every stored content in the snapshot, with its record (undefined when unreadable). */
export async function* storedContents(db: Level<string, Buffer>, snapshot: Snapshot): AsyncGenerator<{ id: string; content: ContentRecord | undefined }> {
  const prefix = keys.contentPrefix();
  for await (const [key, value] of db.iterator({ gte: prefix, lt: prefixEnd(prefix), snapshot } as never)) {
    yield { id: (key as string).slice(prefix.length), content: tryDecode(() => decodeContent(value as Buffer)) };
  }
}

function tryDecode<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}

const DIGEST_SPACE = 2 ** 32;
/** Where a content falls in the digest space: the first 32 bits of its SHA-256. */
const digestAt = (id: string) => parseContentId(id).digest.readUInt32BE(0);

/**
 * Counts the section records that refer to each stored content and compares the counts kept:
 * returns how many differ (or are unreadable); with `repair`, corrects them (a content no record
 * refers to goes). Memory stays bounded: the contents are taken in slices of the digest space, at
 * most REF_COUNT_BUCKET of them each, with one pass over the section records per slice. Safe on a
 * running proxy: a change since the snapshot moves a count and its records together, so the
 * difference found in the snapshot is the correction to make on the live count.
 */
export async function checkRefCounts(scan: { db: Level<string, Buffer>; snapshot: Snapshot; fids: readonly string[]; contents: number; repair?: BodyContents }): Promise<number> {
  const { db, snapshot } = scan;
  if (scan.contents === 0) return 0;
  const slices = Math.ceil(scan.contents / REF_COUNT_BUCKET);
  const fullBody = `!${FULL_BODY}`;
  let wrong = 0;
  for (let slice = 0; slice < slices; slice++) {
    const low = Math.floor((slice * DIGEST_SPACE) / slices);
    const high = Math.floor(((slice + 1) * DIGEST_SPACE) / slices);
    const counted = new Map<string, number>();
    for (const fid of scan.fids) {
      for await (const batch of sectionBatches(db, snapshot, fid)) {
        for (const entry of batch) {
          if (!entry.key.endsWith(fullBody)) continue; // only whole bodies are stored by content
          const record = tryDecode(() => decodeSection(entry.value));
          const id = record && contentIdOf(record);
          const at = id ? digestAt(id) : -1;
          if (id && at >= low && at < high) counted.set(id, (counted.get(id) ?? 0) + 1);
        }
      }
    }
    const prefix = keys.contentPrefix();
    for await (const [key, value] of db.iterator({ gte: prefix, lt: prefixEnd(prefix), snapshot } as never)) {
      const id = (key as string).slice(prefix.length);
      const at = digestAt(id);
      if (at < low || at >= high) continue; // contents are in account order: each slice reads them all (small records)
      const refs = tryDecode(() => decodeContent(value as Buffer))?.refs;
      const actual = counted.get(id) ?? 0;
      if (refs !== undefined && refs === actual && actual > 0) continue;
      wrong++;
      await scan.repair?.recount(id, actual - (refs ?? 0));
    }
  }
  return wrong;
}

/**
 * Counts the Gmail message ids noted for contents the snapshot no longer has (each an id that a
 * label's copy of the message would look up in vain) and, with `drop`, deletes those that still
 * name a content that is gone.
 */
export async function dropStaleMessageIds(db: Level<string, Buffer>, snapshot: Snapshot, drop?: (ops: BatchOp[]) => Promise<void>): Promise<number> {
  let stale = 0;
  const check = async (entries: [string, Buffer][]) => {
    const contents = await db.getMany(entries.map(([, id]) => keys.content(id.toString())), { snapshot } as never);
    const gone = entries.filter((_, i) => contents[i] === undefined);
    stale += gone.length;
    if (!drop || gone.length === 0) return;
    // confirmed on the live database: noted again, or stored again, since the snapshot is not stale
    const live = await db.getMany(gone.map(([key]) => key));
    const liveContents = await db.getMany(gone.map(([, id]) => keys.content(id.toString())));
    await drop(gone.filter(([, id], i) => live[i]?.equals(id) && liveContents[i] === undefined).map(([key]): BatchOp => ({ type: 'del', key })));
  };
  const batch: [string, Buffer][] = [];
  for await (const [key, value] of db.iterator({ gte: keys.messageIdPrefix(), lt: prefixEnd(keys.messageIdPrefix()), snapshot } as never)) {
    batch.push([key as string, value as Buffer]);
    if (batch.length >= VERIFY_BATCH) await check(batch.splice(0));
  }
  if (batch.length > 0) await check(batch);
  return stale;
}
