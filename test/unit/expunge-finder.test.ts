import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EXPUNGE_FIND_MAX, EXPUNGE_LIST_MAX } from '../../src/model/limits.js';
import { findExpunged } from '../../src/sync/expunge-finder.js';
import { FakeFolder } from '../support/fake-upstream.js';
import { Rng } from '../support/prng.js';

/** A folder of `count` messages with a few gaps in its UIDs; returns it and its UIDs as cached. */
function folderOf(count: number, rng: Rng): { folder: FakeFolder; known: number[] } {
  const folder = new FakeFolder();
  folder.condstore = false;
  for (let i = 0; i < count; i++) {
    const uid = folder.add('x');
    if (rng.chance(0.02)) folder.expunge(uid); // went before it was cached
  }
  return { folder, known: [...folder.messages.keys()] };
}

/** Expunges these upstream and finds them again; returns the commands it took. */
async function find(folder: FakeFolder, known: number[], gone: number[]) {
  for (const uid of gone) folder.expunge(uid);
  folder.calls.length = 0;
  const found = await findExpunged(folder.connection(), known, gone.length);
  return { found, calls: folder.calls.map((c) => c.detail) };
}

describe('findExpunged', () => {
  test('10 of 20,000 gone, spread out: found exactly in a few commands of a few hundred UIDs, none listing the folder', async () => {
    const rng = new Rng('spread');
    const { folder, known } = folderOf(20_000, rng);
    const gone = Array.from({ length: 10 }, (_, i) => known[Math.floor((i * known.length) / 10) + rng.int(0, 50)] as number).sort((a, b) => a - b);
    const { found, calls } = await find(folder, known, gone);
    assert.deepEqual(found, gone);
    assert.ok(calls.length <= 4, `${calls.length} commands`);
    for (const call of calls) assert.ok(call.split(',').length <= 1024 + 10, call.slice(0, 80));
    assert.ok(!calls.some((call) => call.startsWith(`${known[0]}:`)), 'the folder was never listed whole');
  });

  test('random sets of gone messages, clustered ones and every sample of a span among them: always exactly those', async () => {
    for (let round = 0; round < 40; round++) {
      const rng = new Rng(`random ${round}`);
      const { folder, known } = folderOf(rng.int(1, 6000), rng);
      const gone = new Set<number>();
      const count = rng.int(0, Math.min(known.length, 120));
      if (rng.chance(0.3)) {
        // a run of neighbours: whole spans between samples go
        const start = rng.int(0, Math.max(0, known.length - count));
        for (let i = start; i < start + count && i < known.length; i++) gone.add(known[i] as number);
      } else {
        while (gone.size < count) gone.add(known[rng.int(0, known.length - 1)] as number);
      }
      const expected = [...gone].sort((a, b) => a - b);
      const { found } = await find(folder, known, expected);
      assert.deepEqual(found, expected, `round ${round}: ${known.length} cached, ${expected.length} gone`);
    }
  });

  test('a span whose every sample went (almost all of it went) is listed whole', async () => {
    const { folder, known } = folderOf(2000, new Rng('dense'));
    const gone = known.slice(0, 1000).filter((_, i) => i !== 500);
    const { found, calls } = await find(folder, known, gone);
    assert.deepEqual(found, gone);
    assert.ok(calls.some((call) => call.startsWith(`${known[0]}:`)), calls.join('\n'));
  });

  test('counts that do not add up (the folder changed meanwhile) and too many gone: undefined, the caller lists', async () => {
    const { folder, known } = folderOf(3000, new Rng('mismatch'));
    folder.expunge(known[100] as number);
    folder.expunge(known[2000] as number);
    assert.equal(await findExpunged(folder.connection(), known, 1), undefined, 'two went, one was counted');
    assert.equal(await findExpunged(folder.connection(), known, EXPUNGE_FIND_MAX + 1), undefined);
  });

  test('a small folder is listed at once', async () => {
    const { folder, known } = folderOf(EXPUNGE_LIST_MAX, new Rng('small'));
    const { found, calls } = await find(folder, known, [known[3] as number]);
    assert.deepEqual(found, [known[3]]);
    assert.deepEqual(calls, [`${known[0]}:${known[known.length - 1]} UID`]);
  });
});
