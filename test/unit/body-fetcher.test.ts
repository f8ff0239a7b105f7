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
    [...folder.messages].map(([uid, m]) => [uid, { uid, flags: m.flags, modseq: String(m.modseq), size: m.body.length, internalDate: '' }]),
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
});
