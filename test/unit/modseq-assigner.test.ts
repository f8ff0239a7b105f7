import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModseqAssigner } from '../../src/sync/modseq-assigner.js';

describe('ModseqAssigner', () => {
  test("upstream's modseqs are kept where they are above the counter", () => {
    const modseqs = new ModseqAssigner(10);
    assert.equal(modseqs.next('12'), 12);
    assert.equal(modseqs.next('15'), 15);
    assert.equal(modseqs.counter(20), 20, "level with upstream's HIGHESTMODSEQ");
  });

  test('a change below the counter, or without a modseq upstream, gets one above it; expunges the lowest of the set', () => {
    const modseqs = new ModseqAssigner(50);
    assert.equal(modseqs.next('45'), 51);
    assert.equal(modseqs.next('0'), 51);
    assert.equal(modseqs.next(), 51);
    assert.equal(modseqs.expunged(), 51);
    assert.equal(modseqs.counter(), 51);
  });

  test('nothing changed: the counter stays', () => {
    assert.equal(new ModseqAssigner(7).counter(), 7);
  });
});
