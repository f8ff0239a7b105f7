import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
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

/** A cache directory for one test, removed after it; `open` opens a store there (close each before opening the next). */
export async function withCacheDir(run: (dir: string, open: (options?: { sweep?: boolean }) => Promise<CacheStore>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'icp-cache-'));
  const opened: CacheStore[] = [];
  const open = async (options: { sweep?: boolean } = {}) => {
    const store = await CacheStore.open(dir, pino({ level: 'silent' }), options);
    opened.push(store);
    return store;
  };
  try {
    await run(dir, open);
  } finally {
    for (const store of opened) await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The raw databases of a closed cache: to write records the way an earlier version did, or to damage them. */
export async function withRawCache<T>(dir: string, run: (meta: Level<string, Buffer>, bodies: Level<string, Buffer>) => Promise<T>): Promise<T> {
  const meta = new Level<string, Buffer>(join(dir, 'meta'), { valueEncoding: 'buffer' });
  const bodies = new Level<string, Buffer>(join(dir, 'bodies'), { valueEncoding: 'buffer' });
  try {
    return await run(meta, bodies);
  } finally {
    await meta.close();
    await bodies.close();
  }
}

/** What the bodies database of a closed cache holds: its chunks and their bytes. */
export async function bodiesOnDisk(dir: string): Promise<{ chunks: number; bytes: number }> {
  return withRawCache(dir, async (_meta, bodies) => {
    let chunks = 0;
    let bytes = 0;
    for await (const value of bodies.values()) {
      chunks++;
      bytes += value.length;
    }
    return { chunks, bytes };
  });
}

/** Where the tests' sections go: a folder generation of the account 'acct'. */
export const at = (fid: string) => ({ acct: 'acct', fid });
