import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CacheStore, type SectionContent, type SectionRecord } from '../../src/cache/cache-store.js';
import { FULL_BODY } from '../../src/cache/keys.js';

/** Opens a store in a fresh temp directory for one test, and always closes and removes it. */
export async function withStore(run: (store: CacheStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'icp-cache-'));
  const store = await CacheStore.open(dir, pino({ level: 'silent' }));
  try {
    await run(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes that differ from chunk to chunk (no short period), so a misplaced chunk shows. */
export function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) bytes.writeUInt32LE(Math.imul(i + seed, 2654435761) >>> 0, i);
  for (let i = length - (length % 4); i < length; i++) bytes[i] = (i + seed) & 0xff;
  return bytes;
}

export async function readAll(content: SectionContent): Promise<Buffer> {
  if ('buffer' in content) return content.buffer;
  const pieces: Buffer[] = [];
  for await (const piece of content.stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

/** Reads the stored record back from the cache (without the in-memory bytes of storeSection). */
export async function stored(store: CacheStore, fid: string, uid: number, section = FULL_BODY): Promise<SectionRecord> {
  const [record] = await store.getSections(fid, [{ uid, section }]);
  assert.ok(record, `section ${section} of ${uid} is cached`);
  return record;
}
