import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { FULL_BODY } from '../../src/cache/keys.js';
import { UPSTREAM_PARTIAL_SIZE } from '../../src/model/limits.js';
import { fetchLongSectionInto } from '../../src/sync/upstream-sections.js';
import { at, pattern, readAll, stored, withStore } from '../support/cache-store.js';

const P = UPSTREAM_PARTIAL_SIZE;

/**
 * Serves pieces of `body` as upstream would (an empty piece past the end), each after a delay
 * that makes later pieces arrive first, and records the offsets asked for and the most pieces
 * in flight at once.
 */
function upstream(body: Buffer | ((offset: number) => Buffer | null | undefined | Error)) {
  const asked: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const fetchAt = async (offset: number) => {
    asked.push(offset);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await sleep(Math.max(1, 30 - offset / P));
    inFlight--;
    const piece = typeof body === 'function' ? body(offset) : body.subarray(offset, offset + P);
    if (piece instanceof Error) throw piece;
    return piece;
  };
  return { fetchAt, asked, maxInFlight: () => maxInFlight };
}

const fetchInto = (store: CacheStore, fid: string, fetchAt: (offset: number) => Promise<Buffer | null | undefined>, expected: number) =>
  fetchLongSectionInto(fetchAt, store, at(fid), 1, FULL_BODY, 'scan', expected);

describe('fetchLongSectionInto', () => {
  test('pieces come two at a time, later ones first, and are written in order', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const body = pattern(5 * P + 3, 1);
      const source = upstream(body);
      const record = await fetchInto(store, fid, source.fetchAt, body.length);
      assert.equal(record?.length, body.length);
      assert.equal(source.maxInFlight(), 2);
      assert.deepEqual(source.asked, [0, P, 2 * P, 3 * P, 4 * P, 5 * P]);
      const back = await stored(store, fid, 1);
      assert.ok((await readAll(await store.openSection(back, 0, back.length))).equals(body));
    });
  });

  test('the expected size is a hint: pieces go on until one comes back short', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      for (const [length, expected] of [
        [3 * P + 5, P + 1], // upstream's RFC822.SIZE too small
        [2 * P + 7, 10 * P], // too large: one piece past the end is asked for, no more
        [2 * P, 2 * P], // a body of whole pieces ends with an empty one
      ] as const) {
        const body = pattern(length, length);
        const source = upstream(body);
        const record = await fetchInto(store, fid, source.fetchAt, expected);
        assert.equal(record?.length, length, `${length} bytes, ${expected} expected`);
        assert.ok(source.asked.length <= Math.ceil(length / P) + 1, `pieces asked for: ${source.asked.join(', ')}`);
        const back = await stored(store, fid, 1);
        assert.ok((await readAll(await store.openSection(back, 0, back.length))).equals(body));
      }
    });
  });

  test('a message expunged meanwhile, or a failed piece, leaves no section', async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const body = pattern(4 * P, 2);
      const expunged = upstream((offset) => (offset >= 2 * P ? undefined : body.subarray(offset, offset + P)));
      assert.equal(await fetchInto(store, fid, expunged.fetchAt, body.length), undefined);
      const failing = upstream((offset) => (offset === P ? new Error('connection lost') : body.subarray(offset, offset + P)));
      await assert.rejects(fetchInto(store, fid, failing.fetchAt, body.length), /connection lost/);
      assert.deepEqual(await store.getSections(fid, [{ uid: 1, section: FULL_BODY }]), [undefined]);
    });
  });

  test("an expunged message's NIL or empty answer leaves no section, not an empty or cut one", async () => {
    await withStore(async (store) => {
      const fid = store.newFolderId();
      const body = pattern(3 * P + 9, 3);
      // Dovecot: BODY[]<0> NIL for a message another session expunged under the command
      assert.equal(await fetchInto(store, fid, upstream(() => null).fetchAt, body.length), undefined);
      // empty where the message has more: gone after its first pieces
      const cut = upstream((offset) => (offset >= P ? Buffer.alloc(0) : body.subarray(offset, offset + P)));
      assert.equal(await fetchInto(store, fid, cut.fetchAt, body.length), undefined);
      assert.deepEqual(await store.getSections(fid, [{ uid: 1, section: FULL_BODY }]), [undefined]);
    });
  });
});
