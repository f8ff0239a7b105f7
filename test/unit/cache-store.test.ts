import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore, FolderRecord, SectionRecord } from '../../src/cache/cache-store.js';
import { FULL_BODY, HEADER_BLOCK } from '../../src/cache/keys.js';
import { encodePartIndex } from '../../src/cache/part-index.js';
import { headerLengthFor } from '../../src/cache/section-writer.js';
import { BODY_CHUNK_SIZE, SECTION_INLINE_MAX } from '../../src/model/limits.js';
import { at, pattern, readAll, stored, withStore } from '../support/cache-store.js';

const C = BODY_CHUNK_SIZE;
const SIZES = [0, 1, C - 1, C, C + 1, 3.5 * C, 10 * C];

/** Asserts that every range reads back as the same bytes of `expected`, ends clamped to the length. */
async function assertReadsBack(store: CacheStore, record: SectionRecord, expected: Buffer): Promise<void> {
  const n = expected.length;
  const ranges: [number, number][] = [
    [0, n],
    [0, 1],
    [1, n - 1],
    [C - 1, C + 1],
    [C, 2 * C],
    [Math.floor(n / 2), n],
    [Math.max(n - 1, 0), n + 100],
    [n + 5, n + 10],
  ];
  for (const [start, end] of ranges) {
    const from = Math.min(start, n);
    const to = Math.max(from, Math.min(end, n));
    const content = await store.openSection(record, start, end);
    assert.equal(content.length, to - from, `length of [${start}, ${end}) of ${n}`);
    const bytes = await readAll(content);
    assert.ok(bytes.equals(expected.subarray(from, to)), `bytes of [${start}, ${end}) of ${n}`);
  }
}

const chunkCount = (record: SectionRecord) => record.chunks.reduce((sum, range) => sum + range.count, 0);

/** Writes bytes through a SectionWriter, cut by a cycle of piece sizes. */
async function writeInPieces(store: CacheStore, fid: string, uid: number, bytes: Buffer, sizes: readonly number[]): Promise<SectionRecord> {
  const writer = store.sectionWriter(at(fid), uid, FULL_BODY, 'none');
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    await writer.write(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return writer.end();
}

const folderRecord = (fid: string): FolderRecord => ({
  v: 1, fid, uidValidity: 7, uidNext: 10, highestModseq: '0', messages: 0, keywords: [], lastSync: 0,
});

const meta = (uid: number) => ({ uid, flags: ['\\Seen'], modseq: '0', size: 10, internalDate: '01-Jan-2025 00:00:00 +0000' });

/** Resolves once check() holds, polling: background work has no completion signal. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; !(await check()); waited += 20) {
    if (waited > 10_000) assert.fail(`still not done after 10 s: ${what}`);
    await sleep(20);
  }
}

describe('CacheStore sections', () => {
  test('storeSection: every size reads back whole and in ranges', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      for (const [uid, size] of SIZES.entries()) {
        const bytes = pattern(size, uid);
        const { record, written } = store.storeSection(at(fid), uid + 1, FULL_BODY, bytes, -1);
        assert.equal(record.inline, bytes); // the caller is served from memory meanwhile
        await written;
        const back = await stored(store, fid, uid + 1);
        assert.deepEqual({ length: back.length, headerLength: back.headerLength, chunks: chunkCount(back) }, {
          length: size, headerLength: -1, chunks: Math.ceil(size / C),
        });
        await assertReadsBack(store, back, bytes);
      }
    });
  });

  test('SectionWriter: every size, written in pieces of varied sizes, reads back the same', async () => {
    const cuts: [string, number[]][] = [
      ['chunk-aligned pieces', [C]],
      ['small and odd pieces', [1, 1000, C - 1, 3]],
      ['pieces larger than a chunk', [2.5 * C, C + 1, 7]],
      ['one piece', [Number.MAX_SAFE_INTEGER]],
    ];
    await withStore(async (store) => {
      const fid = store.newFolderId();
      let uid = 0;
      for (const size of SIZES) {
        const bytes = pattern(size, size);
        for (const [name, sizes] of cuts) {
          const record = await writeInPieces(store, fid, ++uid, bytes, sizes);
          assert.equal(record.length, size, name);
          assert.equal(chunkCount(record), Math.ceil(size / C), name);
          const back = await stored(store, fid, uid);
          assert.deepEqual(back, record, name);
          await assertReadsBack(store, back, bytes);
        }
      }
    });
  });

  test('a range within one chunk comes as a Buffer, a longer one as a stream', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      await store.storeSection(at(fid), 1, FULL_BODY, pattern(3 * C, 1), -1).written;
      const record = await stored(store, fid, 1);
      assert.ok('buffer' in (await store.openSection(record, C + 10, 2 * C)));
      const content = await store.openSection(record, C - 10, C + 10);
      assert.ok('stream' in content);
      await readAll(content);
    });
  });

  test('a section is not visible until it is completely written', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const { written } = store.storeSection(at(fid), 1, FULL_BODY, pattern(2 * C, 1), -1);
      assert.deepEqual(await store.getSections(fid, [{ uid: 1, section: FULL_BODY }]), [undefined]);
      await written;
      assert.ok(await stored(store, fid, 1));

      const writer = store.sectionWriter(at(fid), 2, FULL_BODY, 'none');
      await writer.write(pattern(3 * C, 2));
      assert.deepEqual(await store.getSections(fid, [{ uid: 2, section: FULL_BODY }]), [undefined]);
      await writer.end();
      assert.ok(await stored(store, fid, 2));
    });
  });
});

describe('header length rules', () => {
  const message = Buffer.from('Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n\r\nmore\r\n');

  test('headerLengthFor: scan finds the empty line, all is the whole section, none is -1', () => {
    assert.equal(headerLengthFor('scan', message), 26);
    assert.equal(headerLengthFor('scan', Buffer.from('All: header\r\n')), 13);
    assert.equal(headerLengthFor('all', message), message.length);
    assert.equal(headerLengthFor('none', message), -1);
  });

  test('SectionWriter applies the rule, whatever the pieces', async () => {
    // a header block longer than a chunk, its empty line cut between two writes
    const header = Buffer.concat([Buffer.from('X-Big: '), Buffer.alloc(C + 100, 'a'), Buffer.from('\r\n\r\n')]);
    const big = Buffer.concat([header, pattern(C, 3)]);
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const cases: [rule: 'scan' | 'all' | 'none', bytes: Buffer, cut: number, expected: number][] = [
        ['scan', message, 25, 26],
        ['scan', Buffer.from('All: header\r\n'), 5, 13],
        ['scan', big, header.length - 1, header.length],
        ['all', message, 3, message.length],
        ['none', message, 3, -1],
      ];
      for (const [i, [rule, bytes, cut, expected]] of cases.entries()) {
        const writer = store.sectionWriter(at(fid), i + 1, HEADER_BLOCK, rule);
        await writer.write(bytes.subarray(0, cut));
        await writer.write(bytes.subarray(cut));
        const record = await writer.end();
        assert.equal(record.headerLength, expected, `${rule} #${i}`);
        assert.equal((await stored(store, fid, i + 1, HEADER_BLOCK)).headerLength, expected, `${rule} #${i} stored`);
      }
    });
  });

  test('storeSection keeps the header length it is given', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      await store.storeSection(at(fid), 1, FULL_BODY, message, headerLengthFor('scan', message)).written;
      assert.equal((await stored(store, fid, 1)).headerLength, 26);
    });
  });
});

describe('sections kept in their records', () => {
  const header = Buffer.from('Subject: hi\r\nFrom: a@b\r\n\r\n');
  const message = Buffer.concat([header, pattern(3 * C, 9)]);

  test('a small section other than a whole message is kept whole in its record, with no chunks', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      await store.storeSection(at(fid), 1, HEADER_BLOCK, header, header.length).written;
      await store.storeSection(at(fid), 1, '2', pattern(SECTION_INLINE_MAX, 2), -1).written;
      await store.storeSection(at(fid), 1, '3', pattern(SECTION_INLINE_MAX + 1, 3), -1).written;
      await store.storeSection(at(fid), 2, FULL_BODY, header, header.length).written;
      const kept = await stored(store, fid, 1, HEADER_BLOCK);
      assert.deepEqual([kept.chunks, kept.inline], [[], header]);
      assert.equal(chunkCount(await stored(store, fid, 1, '2')), 0);
      assert.equal(chunkCount(await stored(store, fid, 1, '3')), 1);
      // a whole message always has chunks, however small
      assert.equal(chunkCount(await stored(store, fid, 2)), 1);
      await assertReadsBack(store, await stored(store, fid, 1, '2'), pattern(SECTION_INLINE_MAX, 2));
    });
  });

  test("a whole message's header block is kept whole as its HEADER section too: reading it takes no chunk", async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      await store.storeSection(at(fid), 1, FULL_BODY, message, header.length).written;
      const writer = store.sectionWriter(at(fid), 2, FULL_BODY, 'scan');
      for (let pos = 0; pos < message.length; pos += 7) await writer.write(message.subarray(pos, pos + 7));
      await writer.end();
      for (const uid of [1, 2]) {
        await assertReadsBack(store, await stored(store, fid, uid), message);
        const kept = await stored(store, fid, uid, HEADER_BLOCK);
        assert.deepEqual([kept.chunks, kept.inline, kept.headerLength], [[], header, header.length], `message ${uid}`);
      }
    });
  });

  test('a header block longer than SECTION_INLINE_MAX is not copied', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const long = Buffer.concat([Buffer.from('X-Big: '), Buffer.alloc(SECTION_INLINE_MAX, 'a'), Buffer.from('\r\n\r\nbody')]);
      await store.storeSection(at(fid), 1, FULL_BODY, long, long.length - 4).written;
      assert.deepEqual(await store.getSections(fid, [{ uid: 1, section: HEADER_BLOCK }]), [undefined]);
    });
  });
});

describe('removing data', () => {
  test('expunge removes a message, its sections and their chunks, and writes the folder record with it', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      for (const uid of [1, 2]) {
        await store.putMetas(fid, [{ meta: meta(uid) }]);
        await store.putStructures(fid, [{ uid, structure: { envelope: Buffer.from('(NIL)') } }]);
        await store.storeSection(at(fid), uid, FULL_BODY, pattern(3.5 * C, uid), -1).written;
        await store.storeSection(at(fid), uid, HEADER_BLOCK, pattern(100, uid), 100).written;
      }
      const body = await stored(store, fid, 1);
      const header = await stored(store, fid, 1, HEADER_BLOCK);

      await store.expunge(fid, [1], 5, { acct: 'acct', path: 'INBOX', record: { ...folderRecord(fid), messages: 1 } });

      assert.deepEqual(await store.loadUids(fid), [2]);
      assert.equal((await store.getFolder('acct', 'INBOX'))?.messages, 1);
      assert.deepEqual(await store.getMetas(fid, [1]), [undefined]);
      assert.deepEqual(await store.getStructures(fid, [1]), [undefined]);
      assert.deepEqual(await store.getSections(fid, [{ uid: 1, section: FULL_BODY }, { uid: 1, section: HEADER_BLOCK }]), [undefined, undefined]);
      // the old record points at chunks that are gone; the header block had none (kept in its record)
      assert.deepEqual(header.chunks, []);
      await assert.rejects(readAll(await store.openSection(body, 0, body.length)), /missing/);

      // the other message is untouched
      assert.deepEqual(await store.getMetas(fid, [2]), [meta(2)]);
      assert.ok((await readAll(await store.openSection(await stored(store, fid, 2), 0, 3.5 * C))).equals(pattern(3.5 * C, 2)));
    });
  });

  test('expunges are noted with their modseq: vanishedSince lists those above a modseq, in the order they went', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      await store.putMetas(fid, [1, 2, 3, 4, 5, 9].map((uid) => ({ meta: meta(uid) })));
      const record = folderRecord(fid);
      await store.expunge(fid, [2, 3], 7, { acct: 'acct', path: 'INBOX', record });
      await store.expunge(fid, [9], 12, { acct: 'acct', path: 'INBOX', record });
      await store.expunge(fid, [1], 300, { acct: 'acct', path: 'INBOX', record });
      assert.deepEqual(await store.vanishedSince(fid, 0), [[2, 3], [9, 9], [1, 1]]);
      assert.deepEqual(await store.vanishedSince(fid, 7), [[9, 9], [1, 1]]);
      assert.deepEqual(await store.vanishedSince(fid, 299), [[1, 1]]);
      assert.deepEqual(await store.vanishedSince(fid, 300), []);
    });
  });

  test('the modseq index names the messages above a modseq: a rewrite moves a message, an expunge drops it, too many is undefined', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const at = (uid: number, modseq: number) => ({ ...meta(uid), modseq: String(modseq) });
      await store.putMetas(fid, [1, 2, 3, 4, 5].map((uid) => ({ meta: at(uid, uid * 10) })));
      const since = async (modseq: number, limit = 100) => {
        const uids = await store.changedSince(fid, modseq, limit);
        return uids && [...uids].sort((a, b) => a - b);
      };
      assert.deepEqual(await since(0), [1, 2, 3, 4, 5]);
      assert.deepEqual(await since(30), [4, 5]);
      // message 1 changed at 60: it is above 50 now, and no longer at 10
      await store.updateMetas(fid, [{ meta: at(1, 60), previousModseq: '10' }]);
      assert.deepEqual(await since(50), [1]);
      // (its entry at 10 went: five entries, not six)
      assert.deepEqual(await since(5, 5), [1, 2, 3, 4, 5]);
      await store.expunge(fid, [5], 70, { acct: 'acct', path: 'INBOX', record: folderRecord(fid) });
      assert.deepEqual(await since(30), [1, 4]);
      assert.deepEqual(await since(60), []);
      assert.equal(await since(0, 3), undefined);
      assert.deepEqual(await since(0, 4), [1, 2, 3, 4]);
    });
  });

  test('a cleared folder leaves the HIGHESTMODSEQ it announced, for the generation after it', async () => {
    await withStore(async (store) => {
      const record = { ...folderRecord(store.newFolderId()), uidValidity: 77, modseq: 4321 };
      await store.putFolder('acct', 'INBOX', record);
      await store.clearFolders('acct', [{ path: 'INBOX', record }], false);
      assert.equal(await store.getFolder('acct', 'INBOX'), undefined);
      assert.deepEqual(await store.getModseqMark('acct', 'INBOX'), { uidValidity: 77, modseq: 4321 });
    });
  });

  test('replaceFolder points the folder at a new generation and deletes the old one in the background', async () => {
    await withStore(async (store) => {
      const [oldFid, newFid] = [store.newFolderId(), store.newFolderId()];
      const old = folderRecord(oldFid);
      await store.putFolder('acct', 'INBOX', old);
      for (const uid of [1, 2, 3]) {
        await store.putMetas(oldFid, [{ meta: meta(uid) }]);
        await store.storeSection(at(oldFid), uid, FULL_BODY, pattern(2 * C + uid, uid), -1).written;
      }
      const oldBody = await stored(store, oldFid, 2);
      await store.storeSection(at(newFid), 1, FULL_BODY, pattern(C + 1, 9), -1).written;

      await store.replaceFolder('acct', 'INBOX', old, folderRecord(newFid));
      assert.equal((await store.getFolder('acct', 'INBOX'))?.fid, newFid);

      await eventually(async () => (await store.loadUids(oldFid)).length === 0, 'old metadata deleted');
      await eventually(
        async () => (await store.getSections(oldFid, [1, 2, 3].map((uid) => ({ uid, section: FULL_BODY })))).every((r) => r === undefined),
        'old section records deleted',
      );
      await eventually(
        () => store.openSection(oldBody, 0, oldBody.length).then(readAll).then(() => false, () => true),
        'old chunks deleted',
      );
      // the new generation keeps its data
      assert.ok((await readAll(await store.openSection(await stored(store, newFid, 1), 0, C + 1))).equals(pattern(C + 1, 9)));
    });
  });

  test('replaceFolder without a next record removes the folder', async () => {
    await withStore(async (store) => {
      const old = folderRecord(store.newFolderId());
      await store.putFolder('acct', 'Trash', old);
      await store.replaceFolder('acct', 'Trash', old, undefined);
      assert.equal(await store.getFolder('acct', 'Trash'), undefined);
    });
  });
});

describe('metadata read ahead', () => {
  const uids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const readAhead = { readAhead: true };

  async function withMessages(run: (store: CacheStore, fid: string) => Promise<void>): Promise<void> {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      // UIDs 1..600 without 10: a window from UID 1 asked for one message holds 257 records and ends at 258
      await store.putMetas(fid, uids(1, 600).filter((uid) => uid !== 10).map((uid) => ({ meta: meta(uid) })));
      await run(store, fid);
    });
  }

  test('answers inside and beyond the window, and absent messages as absent', async () => {
    await withMessages(async (store, fid) => {
      assert.deepEqual(await store.getMetas(fid, [1], readAhead), [meta(1)]);
      assert.deepEqual(await store.getMetas(fid, [2, 10, 257], readAhead), [meta(2), undefined, meta(257)]);
      assert.deepEqual(await store.getMetas(fid, [256, 258, 600, 601], readAhead), [meta(256), meta(258), meta(600), undefined]);
      assert.deepEqual(await store.getMetas(fid, [5], readAhead), [meta(5)]);
    });
  });

  test('a batch is answered from one read even where the folder holds records the session does not see', async () => {
    await withMessages(async (store, fid) => {
      // the session sees 249 of the first 290 messages: the other 41 records lie among them
      const seen = uids(1, 290).filter((uid) => uid % 7 !== 0 && uid !== 10);
      const direct = store as unknown as { readMetas: (...args: unknown[]) => Promise<unknown> };
      let directReads = 0;
      const readMetas = direct.readMetas.bind(store);
      direct.readMetas = (...args: unknown[]) => (directReads++, readMetas(...args));
      assert.deepEqual(await store.getMetas(fid, seen, readAhead), seen.map(meta));
      assert.equal(directReads, 0, 'no second read of records the window already holds');
    });
  });

  test('a write to the folder metadata is seen by the next read, even one racing it', async () => {
    await withMessages(async (store, fid) => {
      await store.getMetas(fid, [1], readAhead);
      const seen = { ...meta(3), flags: ['\\Answered'] };
      await store.updateMetas(fid, [{ meta: seen }]);
      assert.deepEqual(await store.getMetas(fid, [3], readAhead), [seen]);

      const racing = store.getMetas(fid, [4], readAhead);
      const flagged = { ...meta(5), flags: ['\\Flagged'] };
      const written = store.updateMetas(fid, [{ meta: flagged }]);
      await racing;
      await written;
      assert.deepEqual(await store.getMetas(fid, [5], readAhead), [flagged]);

      await store.expunge(fid, [6], 5, { acct: 'acct', path: 'INBOX', record: folderRecord(fid) });
      assert.deepEqual(await store.getMetas(fid, [6, 7], readAhead), [undefined, meta(7)]);
    });
  });
});

describe('section read ahead', () => {
  const header = (uid: number) => Buffer.from(`Subject: ${uid}\r\n\r\n`);
  const readAhead = { readAhead: true };

  test('a client reading in order gets a window that later reads answer from, and writes and expunges are seen at once', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      for (let uid = 1; uid <= 100; uid++) {
        await store.putMetas(fid, [{ meta: meta(uid) }]);
        if (uid !== 7) await store.storeSection(at(fid), uid, HEADER_BLOCK, header(uid), header(uid).length).written;
      }
      const db = (store as unknown as { db: { getMany: (...args: unknown[]) => Promise<unknown> } }).db;
      let getManys = 0;
      const getMany = db.getMany.bind(db);
      db.getMany = (...args: unknown[]) => (getManys++, getMany(...args));
      const kept = async (uid: number) => (await store.getSections(fid, [{ uid, section: HEADER_BLOCK }], readAhead))[0]?.inline?.toString();

      assert.equal(await kept(1), header(1).toString());
      assert.equal(getManys, 1, 'a first read is not known to be in order: one message read');
      getManys = 0;
      assert.equal(await kept(2), header(2).toString());
      assert.equal(await kept(7), undefined, 'not cached');
      assert.equal(await kept(64), header(64).toString());
      assert.equal(getManys, 0, 'no key-by-key read');

      await store.storeSection(at(fid), 7, HEADER_BLOCK, header(700), header(700).length).written;
      assert.equal(await kept(7), header(700).toString(), 'written after the window was read');
      await store.expunge(fid, [8], 5, { acct: 'acct', path: 'INBOX', record: folderRecord(fid) });
      assert.equal(await kept(8), undefined, 'expunged after the window was read');
      assert.equal(await kept(100), header(100).toString(), 'beyond the window');
    });
  });

  test('a client jumping about reads what it asks for, no window', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      for (const uid of [10, 50, 11]) await store.storeSection(at(fid), uid, HEADER_BLOCK, header(uid), header(uid).length).written;
      const db = (store as unknown as { db: { iterator: (...args: unknown[]) => unknown } }).db;
      let iterators = 0;
      const iterator = db.iterator.bind(db);
      db.iterator = (...args: unknown[]) => (iterators++, iterator(...args));
      for (const uid of [50, 10, 50]) {
        const [record] = await store.getSections(fid, [{ uid, section: HEADER_BLOCK }], readAhead);
        assert.equal(record?.inline?.toString(), header(uid).toString());
      }
      assert.equal(iterators, 0);
    });
  });
});

describe('cache verify and part indexes', () => {
  test('a part index that does not fit its body is reported, and dropped with --repair', async () => {
    await withStore(async (store) => {
      const record: FolderRecord = { v: 1, fid: store.newFolderId(), uidValidity: 1, uidNext: 2, highestModseq: '1', messages: 1, keywords: [], lastSync: 0 };
      await store.putAccount('acct', { v: 1, upstream: 'imap://example', user: 'u', createdAt: 0 });
      await store.putFolder('acct', 'INBOX', record);
      const body = Buffer.from('Subject: x\r\n\r\nbody');
      await store.putMetas(record.fid, [{ meta: { uid: 1, flags: [], modseq: '1', size: body.length, internalDate: '01-Jan-2025 00:00:00 +0000' } }]);
      await store.storeSection(at(record.fid), 1, FULL_BODY, body, 14).written;
      const beyond = encodePartIndex({ scanned: true, nodes: [{ kind: 'leaf', next: 1, start: 0, bodyStart: 14, end: 99 }] });
      await store.putStructures(record.fid, [{ uid: 1, structure: { bodystructure: Buffer.from('("text" "plain" NIL NIL NIL "7bit" 4 0)'), parts: beyond } }]);
      const found = await store.verify(false);
      assert.deepEqual(found.problems.map((p) => [p.section, p.problem]), [['part index', 'part 0 of the index is outside the body']]);
      assert.equal((await store.verify(true)).problemCount, 1);
      assert.equal((await store.verify(false)).problemCount, 0);
      const [structure] = await store.getStructures(record.fid, [1]);
      assert.equal(structure?.parts, undefined);
      assert.ok(structure?.bodystructure, 'the BODYSTRUCTURE stays');
    });
  });
});
