import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FreshBodies } from '../../src/sync/fresh-bodies.js';

const record = (inline: Buffer) => ({ length: inline.length, headerLength: -1, chunks: [], inline });

test('a body kept is a copy of its own bytes, never a slice that holds the whole buffer it came in', () => {
  const fresh = new FreshBodies(1 << 20);
  const arrived = Buffer.alloc(256 * 1024, 'x');
  const body = arrived.subarray(1000, 1000 + 5000);
  fresh.put('f', 1, record(body));
  const kept = fresh.take('f', 1)?.inline;
  assert.ok(kept?.equals(body));
  assert.equal(kept?.buffer.byteLength, 5000);
  assert.equal(fresh.take('f', 1), undefined, 'taken once');
});

test('over budget, the oldest bodies go first', () => {
  const fresh = new FreshBodies(10_000);
  for (let uid = 1; uid <= 5; uid++) fresh.put('f', uid, record(Buffer.alloc(2_400, uid)));
  assert.equal(fresh.take('f', 1), undefined);
  for (let uid = 2; uid <= 5; uid++) assert.equal(fresh.take('f', uid)?.inline?.[0], uid);
});
