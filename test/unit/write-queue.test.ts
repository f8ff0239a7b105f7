import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import type { BatchOp } from '../../src/cache/write-queue.js';
import { WriteQueue } from '../../src/cache/write-queue.js';

/** A queue over a fresh LevelDB in a temp directory, closed and removed after the test. */
async function withQueue(run: (queue: WriteQueue, db: Level<string, Buffer>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'icp-queue-'));
  const db = new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.open();
  try {
    await run(new WriteQueue(db), db);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const put = (key: string, value: Buffer | string): BatchOp => ({ type: 'put', key, value });
const del = (key: string): BatchOp => ({ type: 'del', key });
const text = async (db: Level<string, Buffer>, key: string) => (await db.get(key))?.toString();

describe('WriteQueue', () => {
  test('a put then a del of the same key, queued back to back, leaves no key', async () => {
    await withQueue(async (queue, db) => {
      await Promise.all([queue.write([put('k', 'v')]), queue.write([del('k')])]);
      assert.equal(await db.get('k'), undefined);
    });
  });

  test('a del then a put of the same key leaves the key', async () => {
    await withQueue(async (queue, db) => {
      await queue.write([put('k', 'old')]);
      await Promise.all([queue.write([del('k')]), queue.write([put('k', 'new')])]);
      assert.equal(await text(db, 'k'), 'new');
    });
  });

  test('order is kept across the groups the queue forms while LevelDB is busy', async () => {
    await withQueue(async (queue, db) => {
      // 1.5 MB values end a group (about 1 MB each), so the small writes fall on both sides of a group boundary
      const big = Buffer.alloc(1536 * 1024, 1);
      const writes: Promise<void>[] = [];
      for (let round = 0; round < 20; round++) {
        writes.push(queue.write([put('k', `put ${round}`)]));
        if (round % 3 === 0) writes.push(queue.write([put(`big-${round}`, big)]));
        writes.push(queue.write([del('k')]));
        if (round % 4 === 1) writes.push(queue.write([put(`big-${round}`, big)]));
      }
      writes.push(queue.write([put('k', 'last'), del('other'), put('other', 'x')]));
      await Promise.all(writes);
      assert.equal(await text(db, 'k'), 'last');
      assert.equal(await text(db, 'other'), 'x');
    });
  });

  test('a write resolves once it can be read back, strings stored as UTF-8', async () => {
    await withQueue(async (queue, db) => {
      await queue.write([put('s', 'Grüße'), put('b', Buffer.from([0, 255]))]);
      assert.deepEqual(await db.get('s'), Buffer.from('Grüße', 'utf8'));
      assert.deepEqual(await db.get('b'), Buffer.from([0, 255]));
    });
  });

  test('an empty write resolves at once, and space() resolves when little is queued', async () => {
    await withQueue(async (queue) => {
      await queue.write([]);
      await queue.space();
    });
  });

  test('a failed batch rejects its writers, and the queue goes on', async () => {
    await withQueue(async (queue, db) => {
      await db.close();
      await assert.rejects(queue.write([put('a', 'x')]), { code: 'LEVEL_DATABASE_NOT_OPEN' });
      await db.open();
      assert.equal(await db.get('a'), undefined);
      await queue.write([put('after', 'ok')]);
      assert.equal(await text(db, 'after'), 'ok');
    });
  });
});
