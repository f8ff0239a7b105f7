import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { applyCorePatches } from '../../src/imap/core-patches.js';
import { getMessageRange } from '../../src/imap/message-range.js';

// The reference: imap-core's own function, taken before the patches replace it (nothing is
// patched when a module is loaded; applyCorePatches does it).
const tools = createRequire(import.meta.url)('@zone-eu/wildduck/imap-core/lib/imap-tools.js') as { getMessageRange: typeof getMessageRange };
const referenceGetMessageRange = tools.getMessageRange;

/** mulberry32: a seeded PRNG, so a failing case can be reproduced from its seed. */
function prng(seed: number) {
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  /** Integer in [lo, hi]. */
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: <T>(items: readonly T[]) => items[int(0, items.length - 1)] as T };
}
type Prng = ReturnType<typeof prng>;

const MAX_UID = 4294967295;

/** An ascending UID list: empty, single, dense, sparse, or up against the largest UID. */
function randomUidList(rng: Prng): number[] {
  const shape = rng.int(0, 5);
  if (shape === 0) return [];
  if (shape === 1) return [rng.pick([1, rng.int(1, 1000), MAX_UID])];
  const count = rng.int(2, 200);
  const uids: number[] = [];
  let uid = shape === 5 ? MAX_UID - rng.int(count * 3, count * 10) : rng.int(1, 50);
  for (let i = 0; i < count && uid <= MAX_UID; i++) {
    uids.push(uid);
    // dense runs with occasional gaps; shape 4 has large gaps
    uid += shape === 2 ? 1 : shape === 4 ? rng.int(1, 100000) : rng.next() < 0.7 ? 1 : rng.int(2, 20);
  }
  return uids;
}

/** A number for a range end: near the list's values, past its end, or extreme. */
function randomNumber(rng: Prng, uidList: number[], isUid: boolean): string {
  const last = isUid ? (uidList[uidList.length - 1] ?? 0) : uidList.length;
  const roll = rng.next();
  if (roll < 0.05) return '0';
  if (roll < 0.1) return String(MAX_UID);
  if (roll < 0.25) return String(last + rng.int(1, 10));
  if (isUid && uidList.length && roll < 0.7) return String(rng.pick(uidList) + rng.int(-1, 1) || 1);
  return String(rng.int(1, Math.max(1, last)));
}

/** A sequence set of 1-6 parts: n, n:m (either order), *, n:*, *:n, repeats and overlaps. */
function randomSet(rng: Prng, uidList: number[], isUid: boolean): string {
  const parts: string[] = [];
  const count = rng.int(1, 6);
  for (let i = 0; i < count; i++) {
    const n = () => randomNumber(rng, uidList, isUid);
    const kind = rng.int(0, 6);
    if (kind === 0) parts.push(n());
    else if (kind <= 2) parts.push(`${n()}:${n()}`);
    else if (kind === 3) parts.push('*');
    else if (kind === 4) parts.push(`${n()}:*`);
    else if (kind === 5) parts.push(`*:${n()}`);
    else if (parts.length) parts.push(rng.pick(parts)); // an exact duplicate
    else parts.push('*:*');
  }
  return parts.join(',');
}

describe('getMessageRange', () => {
  const uids = [3, 5, 9, 10];

  test('replaces imap-core\'s own function', () => {
    applyCorePatches(() => undefined);
    assert.equal(tools.getMessageRange, getMessageRange);
  });

  test('UID mode: * is the largest UID, ranges in either order, UIDs that do not exist skipped', () => {
    assert.deepEqual(getMessageRange(uids, '*', true), [10]);
    assert.deepEqual(getMessageRange(uids, '6:*', true), [9, 10]);
    assert.deepEqual(getMessageRange(uids, '*:6', true), [9, 10]);
    assert.deepEqual(getMessageRange(uids, '11:*', true), [10]);
    assert.deepEqual(getMessageRange(uids, '4', true), []);
    assert.deepEqual(getMessageRange(uids, '9:4', true), [5, 9]);
  });

  test('sequence mode: numbers are positions, * the last one', () => {
    assert.deepEqual(getMessageRange(uids, '1', false), [3]);
    assert.deepEqual(getMessageRange(uids, '2:*', false), [5, 9, 10]);
    assert.deepEqual(getMessageRange(uids, '100', false), []);
    assert.deepEqual(getMessageRange(uids, '5:100', false), []);
  });

  test('overlapping and repeated parts give each message once, ascending', () => {
    assert.deepEqual(getMessageRange(uids, '4,2,2,1:3,3', false), [3, 5, 9, 10]);
    assert.deepEqual(getMessageRange(uids, '10,3:5,5,9:1', true), [3, 5, 9, 10]);
  });

  test('an empty folder has no messages in any range', () => {
    assert.deepEqual(getMessageRange([], '1:*', true), []);
    assert.deepEqual(getMessageRange([], '*', false), []);
  });

  test('a huge range is not expanded', () => {
    const big = [1, 2, MAX_UID - 1, MAX_UID];
    assert.deepEqual(getMessageRange(big, '1:4294967295', true), big);
    assert.deepEqual(getMessageRange(big, '3:4294967294', true), [MAX_UID - 1]);
  });

  test('same results as imap-core\'s implementation on random folders and sets', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const rng = prng(seed);
      const uidList = randomUidList(rng);
      for (const isUid of [true, false]) {
        const set = randomSet(rng, uidList, isUid);
        assert.deepEqual(
          getMessageRange(uidList, set, isUid),
          referenceGetMessageRange(uidList, set, isUid),
          `seed ${seed}, ${isUid ? 'UID' : 'sequence'} set ${set}, uids ${uidList.join(',')}`,
        );
      }
    }
  });
});
