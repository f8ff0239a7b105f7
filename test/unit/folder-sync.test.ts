import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { CacheStore, FolderRecord } from '../../src/cache/cache-store.js';
import { RECORD_VERSION } from '../../src/cache/records.js';
import type { AccountContext } from '../../src/sync/account-context.js';
import { FLAG_SCAN_BATCH, FLAG_WINDOW_AFTER, FLAG_WINDOW_BEFORE, FLAG_WINDOWS_MAX } from '../../src/model/limits.js';
import { syncFolder, type SyncInput } from '../../src/sync/folder-sync.js';
import { widerScope, type SyncScope } from '../../src/sync/sync-scope.js';
import { parseUpstreamFetch } from '../../src/upstream/fetch-parse.js';
import { withStore } from '../support/cache-store.js';
import { FakeFolder } from '../support/fake-upstream.js';

function input(store: CacheStore, record: FolderRecord, uids: number[]): SyncInput {
  return { account: { id: 'acct', store, log: pino({ level: 'silent' }) } as unknown as AccountContext, path: 'INBOX', record, uids };
}

const emptyRecord = (fid: string, uidValidity = 1): FolderRecord => ({
  v: RECORD_VERSION, fid, uidValidity, uidNext: 1, highestModseq: '0', messages: 0, keywords: [], lastSync: 0,
});

/** Syncs and writes the result's record, as the folder would; returns the result. */
async function syncOnce(store: CacheStore, folder: FakeFolder, record: FolderRecord, uids: number[], scope: SyncScope = 'full') {
  const conn = folder.connection();
  const status = await conn.open('INBOX', true);
  folder.calls.length = 0;
  return syncFolder(input(store, record, uids), conn, status, { scope });
}

/** A folder without CONDSTORE of `count` messages, cached by a first sync. */
async function cachedFolder(store: CacheStore, count: number) {
  const folder = new FakeFolder();
  folder.condstore = false;
  for (let i = 0; i < count; i++) folder.add(`message ${i}`);
  const first = await syncOnce(store, folder, emptyRecord(store.newFolderId()), []);
  return { folder, first };
}

/** A folder of 3 messages cached by a first sync, and a connection that selected it then: its status is stale from there on. */
async function selectedThen(store: CacheStore) {
  const folder = new FakeFolder();
  for (let i = 0; i < 3; i++) folder.add(`message ${i}`);
  const first = await syncOnce(store, folder, emptyRecord(store.newFolderId()), []);
  const conn = folder.connection();
  const selectedEarlier = { ...(await conn.open('INBOX', true)), stale: true };
  return { folder, first, conn, selectedEarlier };
}

describe('syncFolder', () => {
  test('first sync: every message is new, its metadata cached; nothing changed is nobody\'s news', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      for (let i = 0; i < 3; i++) folder.add(`message ${i}`, i === 1 ? ['\\Seen'] : []);
      const fid = store.newFolderId();
      const result = await syncOnce(store, folder, emptyRecord(fid), []);
      assert.deepEqual(result.uids, [1, 2, 3]);
      assert.deepEqual(result.changes.added.map((a) => a.uid), [1, 2, 3]);
      assert.equal(result.record.uidNext, 4);
      assert.equal(result.record.highestModseq, String(folder.highestModseq));
      assert.deepEqual((await store.getMetas(fid, [2]))[0]?.flags, ['\\Seen']);
      assert.equal(folder.calls.length, 1, 'one UID FETCH for all of it');
    });
  });

  test("quiet (a new generation's first fill): the UIDs are all there, the changes list none of them", async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      for (let i = 0; i < 3; i++) folder.add(`message ${i}`);
      const conn = folder.connection();
      const result = await syncFolder(input(store, emptyRecord(store.newFolderId()), []), conn, await conn.open('INBOX', true), { quiet: true });
      assert.deepEqual(result.uids, [1, 2, 3]);
      assert.deepEqual(result.changes, { added: [], expunged: [], flagged: [] });
    });
  });

  test('with CONDSTORE, a second sync asks only for what changed since, and finds flags, new mail and expunges', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      for (let i = 0; i < 5; i++) folder.add(`message ${i}`);
      const fid = store.newFolderId();
      const first = await syncOnce(store, folder, emptyRecord(fid), []);
      folder.setFlags(2, ['\\Flagged']);
      folder.expunge(4);
      const added = folder.add('new mail');

      const second = await syncOnce(store, folder, first.record, first.uids);
      assert.match(folder.calls[0]?.detail ?? '', /^1:\* /);
      assert.deepEqual(second.changes.flagged.map((f) => [f.uid, f.flags]), [[2, ['\\Flagged']]]);
      assert.deepEqual(second.changes.added.map((a) => a.uid), [added]);
      assert.deepEqual(second.changes.expunged, [4], 'found by UID SEARCH ALL: upstream has no QRESYNC here');
      assert.deepEqual(second.uids, [1, 2, 3, 5, 6]);
      assert.deepEqual((await store.getMetas(fid, [2]))[0]?.flags, ['\\Flagged']);
    });
  });

  test('unchanged upstream (same HIGHESTMODSEQ, UIDNEXT and count): no command at all', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      folder.add('one');
      const first = await syncOnce(store, folder, emptyRecord(store.newFolderId()), []);
      const second = await syncOnce(store, folder, first.record, first.uids);
      assert.deepEqual(folder.calls, []);
      assert.equal(second.record, first.record);
    });
  });

  test('a status from a connection that had the folder selected (stale): asks what changed, learns new keywords and HIGHESTMODSEQ from it', async () => {
    await withStore(async (store) => {
      const { folder, first, conn, selectedEarlier } = await selectedThen(store);
      folder.setFlags(2, ['\\Seen', '$Label1']);
      folder.calls.length = 0;

      const second = await syncFolder(input(store, first.record, first.uids), conn, selectedEarlier);
      assert.deepEqual(folder.calls.map((c) => c.command), ['fetch'], 'asked CHANGEDSINCE, although the stale status looks unchanged');
      assert.deepEqual(second.changes.flagged.map((f) => [f.uid, f.flags]), [[2, ['\\Seen', '$Label1']]]);
      assert.deepEqual(second.record.keywords, ['$Label1']);
      assert.equal(second.record.highestModseq, String(folder.highestModseq));
      assert.equal(second.record.uidNext, first.record.uidNext);
    });
  });

  test("a stale status older than the cache (another connection synced since): the cache's HIGHESTMODSEQ stays, it never goes back", async () => {
    await withStore(async (store) => {
      const { folder, first, conn, selectedEarlier } = await selectedThen(store);
      const earlier = selectedEarlier.highestModseq;
      folder.setFlags(2, ['\\Seen']);
      const second = await syncOnce(store, folder, first.record, first.uids);
      assert.ok(BigInt(second.record.highestModseq) > BigInt(earlier));

      const third = await syncFolder(input(store, second.record, second.uids), conn, selectedEarlier);
      assert.equal(third.record.highestModseq, second.record.highestModseq);
      assert.deepEqual(third.changes.flagged, [], 'nothing changed since the cache');
    });
  });

  test('without CONDSTORE, flags are compared with the cache and changes get the proxy\'s own modseqs', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      folder.condstore = false;
      for (let i = 0; i < 3; i++) folder.add(`message ${i}`);
      const fid = store.newFolderId();
      const first = await syncOnce(store, folder, emptyRecord(fid), []);
      assert.equal(first.record.highestModseq, '0');
      const before = first.record.modseq ?? 0;
      assert.ok(before >= 1, 'new messages counted');
      folder.setFlags(3, ['\\Answered']);
      const second = await syncOnce(store, folder, first.record, first.uids);
      assert.deepEqual(second.changes.flagged.map((f) => f.uid), [3], 'only the message whose flags changed');
      assert.ok(Number(second.changes.flagged[0]?.modseq) > before);
      assert.deepEqual(second.changes.added, []);
    });
  });

  test('without CONDSTORE, a full sync fetches new mail whole from UIDNEXT and the cached messages\' FLAGS range by range from the newest; what a range leaves out went', async () => {
    await withStore(async (store) => {
      const count = FLAG_SCAN_BATCH + 5;
      const { folder, first } = await cachedFolder(store, count);
      folder.setFlags(2, ['\\Seen']);
      folder.setFlags(count - 5, ['\\Flagged', '$Label']);
      folder.expunge(3);
      folder.expunge(count - 1);
      const added = folder.add('new mail', ['\\Draft']);

      const second = await syncOnce(store, folder, first.record, first.uids);
      assert.deepEqual(folder.calls.map((c) => c.detail), [`${count + 1}:* UID FLAGS RFC822.SIZE INTERNALDATE`, `6:${count} FLAGS`, '1:5 FLAGS']);
      assert.deepEqual(second.changes.flagged.map((f) => [f.uid, f.flags]), [[count - 5, ['\\Flagged', '$Label']], [2, ['\\Seen']]]);
      assert.deepEqual(second.changes.expunged, [3, count - 1]);
      assert.deepEqual(second.changes.added.map((a) => a.uid), [added]);
      assert.equal(second.uids.length, count - 2 + 1);
      assert.deepEqual(second.record.keywords, ['$Label']);
      assert.equal(second.record.uidNext, added + 1);
      assert.deepEqual((await store.getMetas(first.record.fid, [2, count - 5, added])).map((m) => m?.flags), [['\\Seen'], ['\\Flagged', '$Label'], ['\\Draft']]);
    });
  });

  test('without CONDSTORE, a quick sync finds new mail and expunges by counting: no FLAGS of the cached messages asked for', async () => {
    await withStore(async (store) => {
      const { folder, first } = await cachedFolder(store, 3000);
      folder.expunge(10);
      folder.expunge(2500);
      folder.setFlags(7, ['\\Seen']);
      const added = folder.add('new mail');

      const second = await syncOnce(store, folder, first.record, first.uids, 'quick');
      assert.deepEqual(second.changes.expunged, [10, 2500]);
      assert.deepEqual(second.changes.added.map((a) => a.uid), [added]);
      assert.deepEqual(second.changes.flagged, [], 'flags are for a full sync');
      assert.equal(second.uids.length, 3000 - 2 + 1);
      const details = folder.calls.map((c) => c.detail);
      assert.equal(details[0], `3000,3001:* UID FLAGS RFC822.SIZE INTERNALDATE`);
      assert.ok(details.slice(1).every((d) => d.endsWith(' UID')), details.join('\n'));
      assert.ok(details.length <= 4, `${details.length} commands`);

      const third = await syncOnce(store, folder, second.record, second.uids, 'quick');
      assert.equal(folder.calls.length, 1, 'nothing changed: one command');
      assert.deepEqual(third.changes, { added: [], expunged: [], flagged: [] });
    });
  });

  test('without CONDSTORE, IDLE\'s news of a flag change: a quick sync and the flags around that sequence number, not the whole folder', async () => {
    await withStore(async (store) => {
      const { folder, first } = await cachedFolder(store, 3000);
      folder.expunge(100);
      folder.setFlags(1500, ['\\Answered']);
      const seq = [...folder.messages.keys()].indexOf(1500) + 1; // as upstream numbers it now: 1499

      const second = await syncOnce(store, folder, first.record, first.uids, { flagsAt: [seq] });
      assert.deepEqual(second.changes.flagged.map((f) => [f.uid, f.flags]), [[1500, ['\\Answered']]]);
      assert.deepEqual(second.changes.expunged, [100]);
      const flagFetches = folder.calls.map((c) => c.detail).filter((d) => d.endsWith(' FLAGS'));
      assert.deepEqual(flagFetches, [`${1500 - FLAG_WINDOW_BEFORE}:${1500 + FLAG_WINDOW_AFTER} FLAGS`]);
    });
  });

  test('the scope of one sync for several reasons: the widest, flags around several places merged, too many of them a full sync', () => {
    assert.equal(widerScope('quick', 'full'), 'full');
    assert.deepEqual(widerScope('quick', { flagsAt: [3] }), { flagsAt: [3] });
    assert.deepEqual(widerScope({ flagsAt: [3] }, { flagsAt: [9, 3] }), { flagsAt: [3, 9] });
    const many = Array.from({ length: FLAG_WINDOWS_MAX + 1 }, (_, i) => i + 1);
    assert.equal(widerScope({ flagsAt: many.slice(1) }, { flagsAt: [1] }), 'full');
  });

  test('upstream has CONDSTORE now, the cache none of its modseqs: flags are compared once, even by a quick sync; then CHANGEDSINCE', async () => {
    await withStore(async (store) => {
      const { folder, first } = await cachedFolder(store, 3);
      folder.condstore = true;
      folder.setFlags(2, ['\\Answered']);
      const second = await syncOnce(store, folder, first.record, first.uids, 'quick');
      assert.deepEqual(folder.calls.map((c) => c.detail), ['1:3 FLAGS']);
      assert.deepEqual(second.changes.flagged.map((f) => [f.uid, f.flags]), [[2, ['\\Answered']]]);
      assert.equal(second.record.highestModseq, String(folder.highestModseq));
      folder.setFlags(3, ['\\Seen']);
      await syncOnce(store, folder, second.record, second.uids, 'quick');
      assert.match(folder.calls[0]?.detail ?? '', /^1:\* .* MODSEQ$/);
    });
  });

  test('without CONDSTORE, a status from a connection that had the folder selected (stale): new mail is asked for whatever its UIDNEXT says', async () => {
    await withStore(async (store) => {
      const { folder, first } = await cachedFolder(store, 3);
      const conn = folder.connection();
      const selectedEarlier = { ...(await conn.open('INBOX', true)), stale: true };
      const added = folder.add('new mail');
      folder.calls.length = 0;
      const second = await syncFolder(input(store, first.record, first.uids), conn, { ...selectedEarlier, messages: 4 }, { scope: 'quick' });
      assert.deepEqual(second.changes.added.map((a) => a.uid), [added]);
      assert.equal(second.record.uidNext, added + 1);
    });
  });
});

describe('Gmail (X-GM-EXT-1)', () => {
  test("the sync asks for X-GM-MSGID with the metadata where upstream announces it, and keeps it in the message's record", async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      folder.gmail = true;
      folder.add('one', [], '1278455344230334865');
      folder.add('two', [], '1278455344230334866');
      const fid = store.newFolderId();
      await syncOnce(store, folder, emptyRecord(fid), []);
      assert.match(folder.calls[0]?.detail ?? '', /X-GM-MSGID/);
      assert.deepEqual((await store.getMetas(fid, [1, 2])).map((m) => m?.gmMsgId), ['1278455344230334865', '1278455344230334866']);

      const plain = new FakeFolder();
      plain.add('three');
      const other = store.newFolderId();
      await syncOnce(store, plain, emptyRecord(other), []);
      assert.doesNotMatch(plain.calls[0]?.detail ?? '', /X-GM-MSGID/);
      assert.equal((await store.getMetas(other, [1]))[0]?.gmMsgId, undefined);
    });
  });

  test("upstream's X-GM-MSGID is read from its FETCH response", () => {
    const atom = (value: string) => ({ type: 'ATOM' as const, value });
    const fetched = parseUpstreamFetch({ command: '3', attributes: [atom('FETCH'), [atom('UID'), atom('42'), atom('X-GM-MSGID'), atom('1278455344230334865')]] });
    assert.deepEqual([fetched.uid, fetched.gmMsgId], [42, '1278455344230334865']);
  });
});

