// Whole bodies stored by content: one copy whatever the number of folders, freed with the last
// reference, counts that survive restarts and that cache verify checks and repairs, and caches
// written before (each copy on its own) served and then stored by content in the background.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore, FolderRecord } from '../../src/cache/cache-store.js';
import { FULL_BODY, HEADER_BLOCK, keys, prefixEnd } from '../../src/cache/keys.js';
import { decodeContent, encodeContent } from '../../src/cache/records.js';
import { BODY_CHUNK_SIZE, GARBAGE_BATCH } from '../../src/model/limits.js';
import { at, bodiesOnDisk, pattern, readAll, stored, withCacheDir, withRawCache } from '../support/cache-store.js';
import { writeLegacyCache } from '../support/legacy-cache.js';

const C = BODY_CHUNK_SIZE;
const message = (seed: number, size: number) => Buffer.concat([Buffer.from(`Subject: ${seed}\r\n\r\n`), pattern(size, seed)]);

const folderRecord = (fid: string): FolderRecord => ({ v: 1, fid, uidValidity: 1, uidNext: 100, highestModseq: '1', messages: 1, keywords: [], lastSync: 0 });
const meta = (uid: number, size: number) => ({ uid, flags: [], modseq: '1', size, internalDate: '01-Jan-2025 00:00:00 +0000' });

async function bodyOf(store: CacheStore, fid: string, uid: number): Promise<Buffer> {
  const record = await stored(store, fid, uid);
  return readAll(await store.openSection(record, 0, record.length));
}

/** A folder of the account (cache verify drops data no account's folder owns). */
async function newFolder(store: CacheStore, path: string): Promise<FolderRecord> {
  await store.putAccount('acct', { v: 1, upstream: 'imap://example', user: 'u', createdAt: 0 });
  const record = folderRecord(store.newFolderId());
  await store.putFolder('acct', path, record);
  return record;
}

/** A folder of the account with one message whose body is stored (from memory or streamed). */
async function folderWith(store: CacheStore, path: string, uid: number, body: Buffer, streamed = false): Promise<FolderRecord> {
  const record = await newFolder(store, path);
  await store.putMetas(record.fid, [{ meta: meta(uid, body.length) }]);
  if (streamed) {
    const writer = store.sectionWriter(at(record.fid), uid, FULL_BODY, 'scan');
    for (let at = 0; at < body.length; at += 100_000) await writer.write(body.subarray(at, at + 100_000));
    await writer.end();
  } else {
    await store.storeSection(at(record.fid), uid, FULL_BODY, body, body.indexOf('\r\n\r\n') + 4).written;
  }
  return record;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; !(await check()); waited += 20) {
    if (waited > 10_000) assert.fail(`still not done after 10 s: ${what}`);
    await sleep(20);
  }
}

const change = (path: string, record: FolderRecord) => ({ acct: 'acct', path, record });

describe('bodies stored by content', () => {
  test('the same body in five folders is stored once, read back whole from each; cache stats counts what sharing saves', async () => {
    await withCacheDir(async (dir, open) => {
      const store = await open();
      const body = message(1, 3.5 * C);
      const folders: FolderRecord[] = [];
      // three from memory (a batched fetch), two streamed (a long fetch, an APPEND)
      for (const [i, path] of ['INBOX', '[Gmail]/All Mail', 'Work', 'Travel', 'Later'].entries()) folders.push(await folderWith(store, path, 10 + i, body, i >= 3));
      for (const [i, folder] of folders.entries()) assert.ok((await bodyOf(store, folder.fid, 10 + i)).equals(body));
      const [header] = await store.getSections(folders[4]!.fid, [{ uid: 14, section: HEADER_BLOCK }]);
      assert.equal(header?.inline?.toString(), 'Subject: 1\r\n\r\n', 'the header block is kept whole beside each reference');
      assert.deepEqual(await store.sharing('acct'), { contents: 1, storedBytes: body.length, referencedBytes: 5 * body.length, savedBytes: 4 * body.length });
      await store.close();
      assert.deepEqual(await bodiesOnDisk(dir), { chunks: 4, bytes: body.length }, 'the copies written while the bodies came in are dropped');
    });
  });

  test('the bytes go when the last reference does: expunges, a cleared folder, a new generation', async () => {
    await withCacheDir(async (dir, open) => {
      const store = await open();
      const body = message(2, 2 * C);
      const other = message(3, C);
      const paths = ['A', 'B', 'C', 'D', 'E'];
      const folders = [];
      for (const path of paths) folders.push(await folderWith(store, path, 7, body));
      const [a, b, c, d, e] = folders as [FolderRecord, FolderRecord, FolderRecord, FolderRecord, FolderRecord];
      await store.putMetas(a.fid, [{ meta: meta(8, other.length) }]);
      await store.storeSection(at(a.fid), 8, FULL_BODY, other, 14).written;
      const refs = async () => (await store.sharing('acct')).referencedBytes;

      await store.expunge(a.fid, [7], 2, change('A', a));
      await store.expunge(b.fid, [7], 2, change('B', b));
      assert.equal(await refs(), 3 * body.length + other.length);
      await store.clearFolders('acct', [{ path: 'C', record: c }], false);
      await store.replaceFolder('acct', 'D', d, folderRecord(store.newFolderId()));
      await store.garbageCollected();
      assert.equal(await refs(), body.length + other.length);
      const last = await stored(store, e.fid, 7);
      assert.ok((await bodyOf(store, e.fid, 7)).equals(body), 'the last reference still reads it whole');

      await store.expunge(e.fid, [7], 2, change('E', e));
      assert.deepEqual(await store.sharing('acct'), { contents: 1, storedBytes: other.length, referencedBytes: other.length, savedBytes: 0 });
      await assert.rejects(readAll(await store.openSection(last, 0, last.length)), /missing/, 'its chunks are gone');
      assert.equal((await store.verify(false)).problemCount, 0);
      await store.close();
      assert.deepEqual(await bodiesOnDisk(dir), { chunks: 2, bytes: other.length });
    });
  });

  test('stored again where it already is, the count stays; another body there releases the first; a move keeps the reference', async () => {
    await withCacheDir(async (_dir, open) => {
      const store = await open();
      const body = message(4, C + 5);
      const a = await folderWith(store, 'A', 1, body);
      await store.storeSection(at(a.fid), 1, FULL_BODY, body, 14).written;
      await folderWith(store, 'B', 1, body, true);
      assert.equal((await store.sharing('acct')).referencedBytes, 2 * body.length);
      const replacement = message(5, 100);
      await store.storeSection(at(a.fid), 1, FULL_BODY, replacement, 14).written;
      assert.deepEqual(await store.sharing('acct'), {
        contents: 2, storedBytes: body.length + replacement.length, referencedBytes: body.length + replacement.length, savedBytes: 0,
      });
      const moved = folderRecord(store.newFolderId());
      await store.moveMessages(a.fid, moved.fid, new Map([[1, 40]]));
      assert.ok((await bodyOf(store, moved.fid, 40)).equals(replacement));
      assert.equal((await store.sharing('acct')).referencedBytes, body.length + replacement.length);
      const check = await store.verify(false);
      assert.equal(check.wrongRefCounts, 0);
      assert.equal(check.orphanChunks, 0);
    });
  });

  test('copies written at the same time become one content, counted once per copy', async () => {
    await withCacheDir(async (dir, open) => {
      const store = await open();
      const body = message(6, 5 * C);
      const fid = store.newFolderId();
      await store.putMetas(fid, [1, 2, 3, 4].map((uid) => ({ meta: meta(uid, body.length) })));
      const streamed = async (uid: number) => {
        const writer = store.sectionWriter(at(fid), uid, FULL_BODY, 'scan');
        for (let at = 0; at < body.length; at += C / 2) await writer.write(body.subarray(at, at + C / 2));
        return writer.end();
      };
      const records = await Promise.all([streamed(1), streamed(2), store.storeSection(at(fid), 3, FULL_BODY, body, 14).written, streamed(4)]);
      assert.deepEqual(records[0]?.chunks, records[1]?.chunks, 'one set of chunks');
      for (const uid of [1, 2, 3, 4]) assert.ok((await bodyOf(store, fid, uid)).equals(body));
      assert.equal((await store.sharing('acct')).referencedBytes, 4 * body.length);
      await store.close();
      assert.equal((await bodiesOnDisk(dir)).bytes, body.length);
    });
  });

  test('a restart in the middle of deleting a dropped folder resumes it: no count left too high, nothing still referenced freed', async () => {
    await withCacheDir(async (dir, open) => {
      let store = await open();
      const count = GARBAGE_BATCH * 2 + 10;
      const bodies = Array.from({ length: count }, (_, i) => message(100 + i, 200 + i));
      const cleared = await newFolder(store, 'Cleared');
      const kept = await newFolder(store, 'Kept');
      for (const folder of [cleared, kept]) {
        await store.putMetas(folder.fid, bodies.map((body, i) => ({ meta: meta(i + 1, body.length) })));
        await Promise.all(bodies.map((body, i) => store.storeSection(at(folder.fid), i + 1, FULL_BODY, body, 14).written));
      }
      await store.clearFolders('acct', [{ path: 'Cleared', record: cleared }], false);
      await store.close(); // its deletion stops between two batches (or before the first)
      const left = await withRawCache(dir, async (meta) => (await meta.keys({ gte: keys.sectionPrefix(cleared.fid), lt: prefixEnd(keys.sectionPrefix(cleared.fid)) }).all()).length);
      assert.ok(left > 0, 'the deletion was cut short');
      store = await open({ sweep: true });
      await store.garbageCollected();
      await eventually(async () => (await store.sharing('acct')).referencedBytes === (await store.sharing('acct')).storedBytes, 'the dropped folder deleted');
      const sharing = await store.sharing('acct');
      assert.equal(sharing.contents, count);
      for (const uid of [1, GARBAGE_BATCH + 1, count]) assert.ok((await bodyOf(store, kept.fid, uid)).equals(bodies[uid - 1] as Buffer));
      const check = await store.verify(false);
      assert.deepEqual([check.problemCount, check.wrongRefCounts, check.orphanChunks], [0, 0, 0]);
      await store.close();
      assert.equal((await bodiesOnDisk(dir)).bytes, sharing.storedBytes);
    });
  });

  test('cache verify counts the references: a count too high (never freed) or too low (freed while referenced) is found and corrected', async () => {
    await withCacheDir(async (dir, open) => {
      let store = await open();
      const body = message(7, C + 1);
      const lonely = message(8, 2 * C);
      for (const path of ['A', 'B', 'C']) await folderWith(store, path, 1, body);
      const d = await folderWith(store, 'D', 2, lonely);
      await store.putMetas(d.fid, [{ meta: meta(3, lonely.length) }]);
      await store.close();
      await withRawCache(dir, async (meta) => {
        const prefix = keys.contentPrefix();
        for await (const [key, value] of meta.iterator({ gte: prefix, lt: prefixEnd(prefix) })) {
          const content = decodeContent(value);
          // body: 3 references, counted 7; lonely: 2 references (a copy of the record below), counted 1
          await meta.put(key, encodeContent({ ...content, refs: content.length === body.length ? 7 : 1 }));
        }
        await meta.put(keys.section(d.fid, 3, FULL_BODY), (await meta.get(keys.section(d.fid, 2, FULL_BODY))) as Buffer);
      });
      store = await open();
      const found = await store.verify(false);
      assert.deepEqual([found.wrongRefCounts, found.problemCount, found.contents], [2, 0, 2]);
      assert.equal((await store.verify(true)).wrongRefCounts, 2);
      assert.equal((await store.verify(false)).wrongRefCounts, 0);
      assert.equal((await store.sharing('acct')).referencedBytes, 3 * body.length + 2 * lonely.length);
      await store.expunge(d.fid, [2], 2, change('D', d));
      assert.ok((await bodyOf(store, d.fid, 3)).equals(lonely), 'still referenced: still there');
      await store.expunge(d.fid, [3], 3, change('D', d));
      assert.deepEqual(await store.sharing('acct'), { contents: 1, storedBytes: body.length, referencedBytes: 3 * body.length, savedBytes: 2 * body.length });
    });
  });

  test('a streamed copy dropped once its hash showed it stored is compacted away, also when the proxy stopped before', async () => {
    await withCacheDir(async (dir, open) => {
      let store = await open();
      const body = message(11, 3 * C);
      for (const path of ['A', 'B', 'C']) await folderWith(store, path, 1, body, true);
      await store.close();
      const marks = () => withRawCache(dir, async (meta) => (await meta.keys({ gte: keys.reclaimPrefix(), lt: prefixEnd(keys.reclaimPrefix()) }).all()).length);
      // as a stop before the compaction leaves it: the second copy's chunks (the first copy's 4 are
      // the stored body's) noted, still to compact
      await withRawCache(dir, (meta) => meta.put(keys.reclaim(4), Buffer.from('4')));
      for (let tries = 0; (await marks()) > 0; tries++) {
        assert.ok(tries < 20, 'the noted copies are compacted after a restart');
        store = await open({ sweep: true });
        await sleep(200);
        await store.close();
      }
      assert.equal((await bodiesOnDisk(dir)).bytes, body.length);
    });
  });

  test('the sweep at every start corrects a count that is wrong, too', async () => {
    await withCacheDir(async (dir, open) => {
      let store = await open();
      const body = message(10, C);
      for (const path of ['A', 'B']) await folderWith(store, path, 1, body);
      await store.close();
      await withRawCache(dir, async (meta) => {
        for await (const [key, value] of meta.iterator({ gte: keys.contentPrefix(), lt: prefixEnd(keys.contentPrefix()) })) {
          await meta.put(key, encodeContent({ ...decodeContent(value), refs: 9 }));
        }
      });
      store = await open({ sweep: true });
      await eventually(async () => (await store.sharing('acct')).referencedBytes === 2 * body.length, 'the count corrected');
    });
  });

  test('the sweep runs at each start but one after a clean stop of the proxy: not after a section left in flight or an admin command (nor a crash: a start takes the mark away)', async () => {
    await withCacheDir(async (dir, open) => {
      const stoppedCleanly = () => withRawCache(dir, async (meta) => (await meta.get(keys.stoppedCleanly())) !== undefined);
      const chunks = async () => (await bodiesOnDisk(dir)).chunks;
      /** A chunk no record refers to, as only a crash leaves one. */
      const plantOrphan = () =>
        withRawCache(dir, async (_meta, bodies) => {
          let last = 0;
          for await (const key of bodies.keys({ reverse: true, limit: 1 })) last = parseInt(key, 16);
          await bodies.put((last + 1).toString(16).padStart(12, '0'), Buffer.alloc(100));
        });
      /** The proxy's run: the sweep at start (if any) done, then a clean stop. */
      const run = async (during?: (store: CacheStore) => Promise<void>) => {
        const store = await open({ sweep: true });
        await sleep(200);
        await during?.(store);
        await store.close();
      };
      await run((store) => folderWith(store, 'A', 1, message(12, C)).then(() => undefined));
      assert.ok(await stoppedCleanly());
      const clean = await chunks();
      // after a clean stop nothing is read at start: the planted chunk stays
      await plantOrphan();
      await run();
      assert.equal(await chunks(), clean + 1);
      assert.ok(await stoppedCleanly());
      // an admin command opened the cache: the next start sweeps
      await (await open()).close();
      assert.ok(!(await stoppedCleanly()));
      await run();
      assert.equal(await chunks(), clean);
      // a section in flight at the stop: its chunks would be left, so the next start sweeps
      await run(async (store) => {
        const writer = store.sectionWriter(at(store.newFolderId()), 1, FULL_BODY, 'scan');
        await writer.write(pattern(2 * C, 13));
      });
      assert.ok(!(await stoppedCleanly()));
      assert.ok((await chunks()) > clean);
      await run();
      assert.equal(await chunks(), clean);
    });
  });

  test('cache verify checks each stored body once: a damaged one is reported for every folder that has it, and dropped with --repair', async () => {
    await withCacheDir(async (dir, open) => {
      let store = await open();
      const body = message(9, 3 * C);
      for (const path of ['A', 'B']) await folderWith(store, path, 1, body);
      await store.close();
      await withRawCache(dir, async (_meta, bodies) => {
        for await (const key of bodies.keys({ limit: 1 })) await bodies.put(key, Buffer.alloc(C)); // same size, other bytes
      });
      store = await open();
      const found = await store.verify(false);
      assert.deepEqual(found.problems.map((p) => [p.folder, p.problem]).sort(), [
        ['A', 'its bytes do not hash to its SHA-256'],
        ['B', 'its bytes do not hash to its SHA-256'],
      ]);
      await store.verify(true);
      const clean = await store.verify(false);
      assert.deepEqual([clean.problemCount, clean.contents, clean.orphanChunks, clean.wrongRefCounts], [0, 0, 0, 0]);
    });
  });
});

describe('a cache written before bodies were stored by content', () => {
  test('is served as it is, then stored by content in the background: every body reads back the same, each stored once', async () => {
    await withCacheDir(async (dir, open) => {
      const distinct = [message(20, 10), message(21, C), message(22, 3 * C + 17), Buffer.alloc(0)];
      // every body in three folders, as the old layout kept them: three copies each
      const folders = ['INBOX', 'All Mail', 'Label'];
      let store = await open();
      const fids: string[] = [];
      for (const path of folders) fids.push((await newFolder(store, path)).fid);
      await store.close();
      const messages = fids.flatMap((fid) => distinct.map((body, i) => ({ fid, uid: i + 1, body })));
      await writeLegacyCache(dir, messages);
      const bytes = distinct.reduce((sum, body) => sum + body.length, 0);
      assert.equal((await bodiesOnDisk(dir)).bytes, 3 * bytes);

      store = await open(); // an admin command: nothing migrated, the old records served
      for (const { fid, uid, body } of messages) assert.ok((await bodyOf(store, fid, uid)).equals(body));
      assert.equal((await store.sharing('acct')).contents, 0);
      assert.equal((await store.verify(false)).problemCount, 0);
      await store.close();

      store = await open({ sweep: true }); // the proxy: migrates in the background
      await eventually(async () => (await store.sharing('acct')).referencedBytes === 3 * bytes, 'every body stored by content');
      for (const { fid, uid, body } of messages) assert.ok((await bodyOf(store, fid, uid)).equals(body));
      assert.deepEqual(await store.sharing('acct'), { contents: distinct.length, storedBytes: bytes, referencedBytes: 3 * bytes, savedBytes: 2 * bytes });
      const check = await store.verify(false);
      assert.deepEqual([check.problemCount, check.wrongRefCounts, check.orphanChunks], [0, 0, 0]);
      await store.close();
      assert.equal((await bodiesOnDisk(dir)).bytes, bytes, 'the copies are gone');
    });
  });
});
