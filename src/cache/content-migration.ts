import { createHash } from 'node:crypto';
import type { Level } from 'level';
import type { Logger } from '../log.js';
import { GARBAGE_BATCH } from '../model/limits.js';
import type { BodyContents } from './body-contents.js';
import type { BodyStore } from './body-store.js';
import { FULL_BODY, keys, prefixEnd } from './keys.js';
import { decodeSection, type FolderRecord } from './records.js';
import { readRange } from './range-read.js';
import { scanSection } from './section-reader.js';

export interface MigrationTarget {
  db: Level<string, Buffer>;
  bodies: BodyStore;
  contents: BodyContents;
  closed(): boolean;
  log: Logger;
}

/**
 * A cache written before bodies were stored by content has whole bodies with chunks of their
 * own. They are served as they are; this stores them by content in the background, one at a
 * time: each body's bytes are hashed one chunk at a time (memory stays one chunk), and its record
 * becomes a reference, to a content already stored (its own chunks are then dropped) or to a new
 * one made of its chunks, in one batch with the count. Stopped by close, it resumes at the next
 * start with the records still left (those are of the old format); once none is, a mark says so
 * and later starts skip the scan. Folder generations being deleted (or that no folder owns) are
 * left to their deletion. Returns the bodies it stored by content.
 */
export async function migrateBodies(target: MigrationTarget): Promise<number> {
  const { db, bodies, contents } = target;
  if (await db.get(keys.contentLayout())) return 0;
  const owners = await generationOwners(db);
  let migrated = 0;
  let sharedBytes = 0;
  const fullBody = `!${FULL_BODY}`;
  for (const [fid, account] of owners) {
    const end = prefixEnd(keys.sectionPrefix(fid));
    // a few records at a time, no iterator held open across the hashing (it would pin what LevelDB may compact)
    for (let after = keys.sectionPrefix(fid); ; ) {
      const batch = await db.iterator({ gt: after, lt: end, limit: GARBAGE_BATCH }).all();
      if (batch.length === 0) break;
      after = batch[batch.length - 1]?.[0] as string;
      for (const [key, value] of batch) {
        if (target.closed()) return migrated;
        if (!key.endsWith(fullBody)) continue;
        const record = tryDecode(value);
        if (!record || record.content || record.inline) continue;
        const hash = createHash('sha256');
        try {
          for await (const chunk of scanSection(bodies, record)) hash.update(chunk);
        } catch {
          continue; // a chunk is missing: cache verify reports the body
        }
        const shared = await contents.adopt(key, value, { account, digest: hash.digest() });
        if (shared === undefined) continue;
        migrated++;
        if (shared) sharedBytes += record.length;
      }
    }
  }
  if (target.closed()) return migrated;
  await db.put(keys.contentLayout(), Buffer.from('1'));
  if (migrated > 0) target.log.info({ bodies: migrated, sharedBytes }, 'stored the bodies cached by an earlier version by content');
  return migrated;
}

/** The generation of every cached folder, with its account. */
async function generationOwners(db: Level<string, Buffer>): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  const prefix = keys.folderPrefix();
  for await (const [key, value] of readRange(db.iterator({ gte: prefix, lt: prefixEnd(prefix) }))) {
    const account = key.slice(prefix.length, key.indexOf('!', prefix.length));
    owners.set((JSON.parse(value.toString()) as FolderRecord).fid, account);
  }
  return owners;
}

function tryDecode(value: Buffer) {
  try {
    return decodeSection(value);
  } catch {
    return undefined;
  }
}
