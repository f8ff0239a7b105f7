import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { FULL_BODY } from '../../src/cache/keys.js';
import { UPSTREAM_PARTIAL_SIZE } from '../../src/model/limits.js';
import type { MessageMeta } from '../../src/model/types.js';
import type { AccountContext, GenerationContext } from '../../src/sync/account-context.js';
import { BodyFetcher } from '../../src/sync/body-fetcher.js';
import { FreshBodies } from '../../src/sync/fresh-bodies.js';
import { ServedCounter } from '../../src/sync/served-counter.js';
import { ConnectionPool, Priority } from '../../src/upstream/connection-pool.js';
import { pattern, readAll, withStore } from '../support/cache-store.js';
import { FakeFolder } from '../support/fake-upstream.js';

const log = pino({ level: 'silent' });

/** A fetcher for one folder generation of `folder`, on a real cache and a pool of fake connections. */
function fetcherFor(store: CacheStore, folder: FakeFolder) {
  const pool = new ConnectionPool(async () => folder.connection(), 3, log);
  const account = { id: 'acct', user: 'u', store, pool, log, freshBodies: new FreshBodies(1 << 20), served: new ServedCounter() } as AccountContext;
  const generation: GenerationContext = { account, path: 'INBOX', fid: store.newFolderId(), uids: [...folder.messages.keys()] };
  const metas = new Map<number, MessageMeta>(
    [...folder.messages].map(([uid, m]) => [uid, { uid, flags: m.flags, modseq: String(m.modseq), size: m.body.length, internalDate: '', ...(m.gmMsgId ? { gmMsgId: m.gmMsgId } : {}) }]),
  );
  return { fetcher: new BodyFetcher(generation), generation, pool, metas: (...uids: number[]) => uids.map((uid) => metas.get(uid) as MessageMeta) };
}

async function cachedBody(store: CacheStore, fid: string, uid: number): Promise<Buffer | undefined> {
  const [record] = await store.getSections(fid, [{ uid, section: FULL_BODY }]);
  return record && readAll(await store.openSection(record, 0, record.length));
}

const bodyFetches = (folder: FakeFolder) => folder.calls.filter((c) => c.command === 'fetch' && c.detail.includes('BODY.PEEK'));

describe('BodyFetcher', () => {
  test('missing bodies come in one upstream fetch and are cached; asked again, none is fetched', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      for (let i = 0; i < 5; i++) folder.add(`Subject: ${i}\r\n\r\nbody ${i}`);
      const { fetcher, generation, pool, metas } = fetcherFor(store, folder);
      const records = await fetcher.ensure(metas(1, 2, 3), Priority.Client);
      assert.deepEqual([...records.keys()].sort(), [1, 2, 3]);
      assert.equal(bodyFetches(folder).length, 1);
      assert.match(bodyFetches(folder)[0]?.detail ?? '', /^1:3 /);
      await fetcher.prefetch(metas(1, 2, 3)); // waits until they are written
      for (const uid of [1, 2, 3]) assert.equal((await cachedBody(store, generation.fid, uid))?.toString(), `Subject: ${uid - 1}\r\n\r\nbody ${uid - 1}`);
      const fetchesBefore = bodyFetches(folder).length;
      await fetcher.ensure(metas(1, 2, 3), Priority.Client);
      assert.equal(bodyFetches(folder).length, fetchesBefore, 'served from the cache');
      await pool.close();
    });
  });

  test('two clients asking for the same body at once cause one fetch', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      folder.add('Subject: x\r\n\r\nshared');
      const { fetcher, pool, metas } = fetcherFor(store, folder);
      const gate = Promise.withResolvers<void>();
      folder.gate = gate.promise;
      const both = Promise.all([fetcher.ensure(metas(1), Priority.Client), fetcher.ensure(metas(1), Priority.Client)]);
      gate.resolve();
      const [a, b] = await both;
      assert.equal(a.get(1)?.length, b.get(1)?.length);
      assert.equal(bodyFetches(folder).length, 1);
      await pool.close();
    });
  });

  test('a body upstream no longer has is missing from the answer, not an error', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      folder.add('one');
      folder.add('two');
      const { fetcher, pool, metas } = fetcherFor(store, folder);
      const asked = metas(1, 2);
      folder.expunge(2);
      const records = await fetcher.ensure(asked, Priority.Client);
      assert.deepEqual([...records.keys()], [1]);
      await pool.close();
    });
  });

  test('a body longer than one partial comes piece by piece, whole and in order', async () => {
    await withStore(async (store) => {
      const folder = new FakeFolder();
      const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), pattern(2 * UPSTREAM_PARTIAL_SIZE + 1234, 7)]);
      folder.add(big);
      const { fetcher, generation, pool, metas } = fetcherFor(store, folder);
      const records = await fetcher.ensure(metas(1), Priority.Client);
      assert.equal(records.get(1)?.length, big.length);
      assert.ok((await cachedBody(store, generation.fid, 1))?.equals(big));
      assert.equal(bodyFetches(folder).length, 3, 'three partials');
      await pool.close();
    });
  });

  test('Gmail: a message cached under another label is not downloaded again, found by its X-GM-MSGID; once its body is gone, it is', async () => {
    await withStore(async (store) => {
      const small = Buffer.from('Subject: labelled\r\n\r\nsmall body');
      const large = Buffer.concat([Buffer.from('Subject: large\r\n\r\n'), pattern(UPSTREAM_PARTIAL_SIZE + 1000, 5)]);
      const inbox = new FakeFolder();
      inbox.add(small, [], '1001');
      inbox.add(large, [], '1002');
      const allMail = new FakeFolder();
      allMail.add('Subject: only here\r\n\r\nx', [], '1000');
      allMail.add(small, [], '1001');
      allMail.add(large, [], '1002');
      const label = new FakeFolder();
      label.add(small, [], '1001');

      const first = fetcherFor(store, inbox);
      await first.fetcher.prefetch(first.metas(1, 2)); // the background sync: both downloaded and noted
      assert.equal(bodyFetches(inbox).length, 3, 'one batch and the large one in two partials');

      const second = fetcherFor(store, allMail);
      const records = await second.fetcher.ensure(second.metas(2, 3), Priority.Client);
      assert.deepEqual([...records.keys()].sort(), [2, 3]);
      assert.equal(bodyFetches(allMail).length, 0, 'a client asking under another label: nothing downloaded');
      assert.ok((await cachedBody(store, second.generation.fid, 2))?.equals(small));
      assert.ok((await cachedBody(store, second.generation.fid, 3))?.equals(large));
      assert.deepEqual(await second.fetcher.uncached(), [1], 'counted as cached');
      const third = fetcherFor(store, label);
      assert.equal(await third.fetcher.prefetch(third.metas(1)), 0, 'the background sync: nothing to fetch');
      assert.equal(bodyFetches(label).length, 0);
      assert.deepEqual(await store.sharing('acct'), {
        contents: 2, storedBytes: small.length + large.length, referencedBytes: 3 * small.length + 2 * large.length, savedBytes: 2 * small.length + large.length,
      });

      // expunged everywhere: the id still names the body, which is gone; the next label downloads it
      const gone = { acct: 'acct', path: 'x', record: { v: 1, fid: 'x', uidValidity: 1, uidNext: 9, highestModseq: '0', messages: 0, keywords: [], lastSync: 0 } };
      await store.expunge(first.generation.fid, [1], 1, gone);
      await store.expunge(second.generation.fid, [2], 1, gone);
      await store.expunge(third.generation.fid, [1], 1, gone);
      const fourth = fetcherFor(store, label);
      await fourth.fetcher.ensure(fourth.metas(1), Priority.Client);
      await fourth.fetcher.prefetch(fourth.metas(1)); // waits until it is written
      assert.equal(bodyFetches(label).length, 1);
      assert.ok((await cachedBody(store, fourth.generation.fid, 1))?.equals(small));
      for (const { pool } of [first, second, third, fourth]) await pool.close();
    });
  });
});
