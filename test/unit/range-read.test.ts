import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Level } from 'level';
import { readRange } from '../../src/cache/range-read.js';
import { tempDir } from '../support/temp-dir.js';

test('readRange reads a range in batches that start small and double, and closes the iterator, also when left early', async () => {
  const db = new Level<string, string>(await tempDir('imapcp-range-'));
  await db.batch(Array.from({ length: 3000 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(5, '0')}`, value: `v${i}` })));
  const iterator = db.keys({ gte: 'k', lt: 'l' });
  const sizes: number[] = [];
  const nextv = iterator.nextv.bind(iterator);
  iterator.nextv = (size: number) => (sizes.push(size), nextv(size));
  const keys: string[] = [];
  for await (const key of readRange(iterator)) keys.push(key);
  assert.equal(keys.length, 3000);
  assert.equal(keys[2999], 'k02999');
  assert.deepEqual(sizes.slice(0, 8), [16, 32, 64, 128, 256, 512, 1000, 1000]);
  const early = db.iterator({ gte: 'k' });
  for await (const [key] of readRange(early)) if (key === 'k00003') break;
  await assert.rejects(early.next(), { code: 'LEVEL_ITERATOR_NOT_OPEN' });
  await db.close();
});
