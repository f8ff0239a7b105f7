import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { indexOfUid, intersectRanges, lowerBound, mergeSorted, missingBelow, normalizeRanges, sortedAmong, parseUidRanges, rangesContain, rangesToSet, toSequenceSet, uidsInRanges, uidsNotIn } from '../../src/model/uid-set.js';

const MAX_UID = 4294967295;

/** Ascending UID lists of varied shapes: runs, gaps, singletons, the top of the UID space. */
const LISTS: number[][] = [
  [],
  [1],
  [MAX_UID],
  [1, 2, 3, 7],
  [1, 3, 5, 7, 9],
  [2, 3, 4, 5, 6, 100, 101, 1000],
  [MAX_UID - 3, MAX_UID - 2, MAX_UID],
  Array.from({ length: 500 }, (_, i) => i * 3 + (i % 5 === 0 ? 1 : 2)),
  Array.from({ length: 300 }, (_, i) => 1000 + i + Math.floor(i / 7) * 4),
];

describe('toSequenceSet', () => {
  test('compresses consecutive UIDs into ranges', () => {
    assert.equal(toSequenceSet([]), '');
    assert.equal(toSequenceSet([5]), '5');
    assert.equal(toSequenceSet([1, 2, 3, 7]), '1:3,7');
    assert.equal(toSequenceSet([1, 3, 5]), '1,3,5');
    assert.equal(toSequenceSet([1, 2, 4, 5, 9]), '1:2,4:5,9');
    assert.equal(toSequenceSet([MAX_UID - 1, MAX_UID]), '4294967294:4294967295');
  });
});

describe('parseUidRanges', () => {
  test('numbers and ranges, in order, a reversed range normalised', () => {
    assert.deepEqual(parseUidRanges('1:3,7'), [[1, 3], [7, 7]]);
    assert.deepEqual(parseUidRanges('9:4'), [[4, 9]]);
    assert.deepEqual(parseUidRanges('5,1:2,5'), [[5, 5], [1, 2], [5, 5]]);
  });

  test('a huge range stays one range', () => {
    assert.deepEqual(parseUidRanges('1:4294967295'), [[1, MAX_UID]]);
  });

  test('parts that are not numbers are skipped', () => {
    assert.deepEqual(parseUidRanges('x,4'), [[4, 4]]);
  });

  // toSequenceSet([]) is '', so this is also the round trip of an empty list
  test(
    'an empty set, or an empty part, gives no range',
    () => {
      assert.deepEqual(parseUidRanges(''), []);
      assert.deepEqual(parseUidRanges('1,,2'), [[1, 1], [2, 2]]);
    },
  );
});

describe('uidsInRanges', () => {
  const uids = [2, 3, 5, 8, 13, 21];

  test('picks the UIDs inside the ranges, ascending', () => {
    assert.deepEqual(uidsInRanges(uids, [[13, 30], [1, 3]]), [2, 3, 13, 21]);
    assert.deepEqual(uidsInRanges(uids, [[4, 4], [22, 100]]), []);
    assert.deepEqual(uidsInRanges([], [[1, MAX_UID]]), []);
  });

  test('a huge range is answered without expanding it', () => {
    assert.deepEqual(uidsInRanges([1, 70000, MAX_UID], parseUidRanges('1:4294967295')), [1, 70000, MAX_UID]);
    assert.deepEqual(uidsInRanges([1, 70000, MAX_UID], parseUidRanges('2:4294967294')), [70000]);
  });

  // folder-sync.ts gathers the sets of several VANISHED responses, which may overlap; a UID listed
  // twice would be expunged (and reported to clients) twice
  test(
    'overlapping ranges give each UID once',
    () => {
      assert.deepEqual(uidsInRanges(uids, [[1, 5], [3, 8]]), [2, 3, 5, 8]);
    },
  );
});

describe('indexOfUid and lowerBound', () => {
  test('on an empty list', () => {
    assert.equal(indexOfUid([], 1), -1);
    assert.equal(lowerBound([], 1), 0);
  });

  test('every member, and every gap around the members', () => {
    for (const list of LISTS) {
      list.forEach((uid, i) => {
        assert.equal(indexOfUid(list, uid), i);
        assert.equal(lowerBound(list, uid), i);
        if (i === 0 || (list[i - 1] as number) < uid - 1) {
          assert.equal(indexOfUid(list, uid - 1), -1);
          assert.equal(lowerBound(list, uid - 1), i);
        }
      });
      const last = list[list.length - 1] ?? 0;
      assert.equal(indexOfUid(list, last + 1), -1);
      assert.equal(lowerBound(list, last + 1), list.length);
      assert.equal(lowerBound(list, 0), 0);
    }
  });
});

describe('round trips', () => {
  /** Every UID of the ranges, for small ranges only. */
  const expand = (ranges: readonly (readonly [number, number])[]) =>
    ranges.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i));

  test('toSequenceSet then parseUidRanges gives back exactly the UIDs', () => {
    // the empty list is covered above
    for (const list of LISTS.filter((uids) => uids.length > 0)) {
      const set = toSequenceSet(list);
      const ranges = parseUidRanges(set);
      assert.deepEqual(uidsInRanges(list, ranges), list, set);
      if ((list[list.length - 1] as number) < 1e6) assert.deepEqual(expand(ranges), list, set);
      // ranges are disjoint and not adjacent: the set is as short as it can be
      for (let i = 1; i < ranges.length; i++) assert.ok((ranges[i] as [number, number])[0] > (ranges[i - 1] as [number, number])[1] + 1, set);
    }
  });

  test('a compressed set re-compresses to itself', () => {
    for (const set of ['1:3,7', '5', '1,3,5', '10:20,22,24:30']) {
      assert.equal(toSequenceSet(expand(parseUidRanges(set))), set);
    }
  });
});

describe('UID ranges', () => {
  test('normalizeRanges sorts and merges overlapping and adjacent ranges', () => {
    assert.deepEqual(normalizeRanges([[9, 9], [1, 3], [4, 5], [2, 2], [12, 15]]), [[1, 5], [9, 9], [12, 15]]);
  });

  test('intersectRanges keeps what both name', () => {
    assert.deepEqual(intersectRanges([[1, 5], [9, 9], [12, 15]], [[3, 10], [14, 4294967295]]), [[3, 5], [9, 9], [14, 15]]);
    assert.deepEqual(intersectRanges([[1, 2]], [[3, 4]]), []);
  });

  test('rangesContain finds a UID in normalized ranges', () => {
    const ranges = normalizeRanges([[1, 3], [7, 7], [10, 20]]);
    assert.deepEqual([0, 1, 3, 4, 7, 8, 15, 21].map((uid) => rangesContain(ranges, uid)), [false, true, true, false, true, false, true, false]);
  });

  test('missingBelow lists the gaps below a limit', () => {
    assert.deepEqual(missingBelow([2, 3, 7], 10), [[1, 1], [4, 6], [8, 9]]);
    assert.deepEqual(missingBelow([1, 2, 3], 4), []);
    assert.deepEqual(missingBelow([], 3), [[1, 2]]);
    assert.deepEqual(missingBelow([5, 20], 6), [[1, 4]]);
  });

  test('rangesToSet writes a sequence set', () => {
    assert.equal(rangesToSet([[1, 3], [7, 7]]), '1:3,7');
  });
});

describe('merging ascending UID lists', () => {
  test('mergeSorted: the union, ascending; an empty side gives the other back as it is', () => {
    assert.deepEqual(mergeSorted([1, 3, 5, 9], [2, 3, 10]), [1, 2, 3, 5, 9, 10]);
    const only = [4, 7];
    assert.equal(mergeSorted(only, []), only);
    assert.equal(mergeSorted([], only), only);
  });

  test('uidsNotIn: what a stream of present UIDs (repeats allowed, unknown ones too) does not name', async () => {
    async function* present(uids: number[]) {
      yield* uids;
    }
    assert.deepEqual(await uidsNotIn([1, 2, 3, 5, 8, 13], present([2, 2, 4, 5, 13, 20])), [1, 3, 8]);
    assert.deepEqual(await uidsNotIn([1, 2], present([])), [1, 2]);
    assert.deepEqual(await uidsNotIn([], present([1])), []);
  });

  test('sortedAmong: the UIDs of a list that a set names, ascending, whichever of the two is the smaller', () => {
    const all = Array.from({ length: 1000 }, (_, i) => i * 2 + 1);
    // a few among many: looked up one by one; UIDs not in the list are left out
    assert.deepEqual(sortedAmong(all, new Set([999, 3, 4, 1999, 2001])), [3, 999, 1999]);
    // as many as the list: one pass over it
    assert.deepEqual(sortedAmong([1, 5, 9], new Set([9, 1, 2])), [1, 9]);
    assert.deepEqual(sortedAmong([], new Set([1])), []);
  });
});
