import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOURNAL_CAPACITY } from '../../src/model/limits.js';
import { UpdateJournal } from '../../src/sync/update-journal.js';

const none = { added: [], expunged: [], flagged: [] };

describe('UpdateJournal', () => {
  test('entries carry the modseqs the folder gave the changes; expunges come first', () => {
    const journal = new UpdateJournal();
    const entries = journal.append({ added: [{ uid: 9, modseq: '30' }], expunged: [3, 4], expungedAt: 21, flagged: [{ uid: 2, flags: ['\\Seen'], modseq: '31' }] });
    assert.deepEqual(entries.map((e) => [e.command, e.uid, e.modseq]), [['EXPUNGE', 3, 21], ['EXPUNGE', 4, 21], ['EXISTS', 9, 30], ['FETCH', 2, 31]]);
  });

  test('since() returns everything above a modseq, whole appends at a time', () => {
    const journal = new UpdateJournal();
    journal.append({ ...none, added: [{ uid: 1, modseq: '5' }, { uid: 2, modseq: '5' }] });
    journal.append({ ...none, expunged: [1], expungedAt: 6 });
    assert.deepEqual(journal.since(4).map((e) => e.uid), [1, 2, 1]);
    assert.deepEqual(journal.since(5).map((e) => [e.command, e.uid]), [['EXPUNGE', 1]]);
    assert.deepEqual(journal.since(6), []);
  });

  test('the origin session is marked to be skipped', () => {
    const journal = new UpdateJournal();
    const [entry] = journal.append({ ...none, expunged: [7], expungedAt: 2 }, 'session-a');
    assert.equal(entry?.ignore, 'session-a');
  });

  test('clear() empties it for a new generation', () => {
    const journal = new UpdateJournal();
    journal.append({ ...none, expunged: [7], expungedAt: 2 });
    journal.clear();
    assert.deepEqual(journal.since(0), []);
  });

  test('changedSince() answers from the journal only as far back as it holds every change', () => {
    const journal = new UpdateJournal();
    assert.equal(journal.changedSince(10), undefined, 'not tracking yet');
    journal.completeFrom(10);
    journal.completeFrom(3); // the first call counts
    journal.append({ ...none, flagged: [{ uid: 4, flags: ['\\Seen'], modseq: '11' }], added: [{ uid: 9, modseq: '12' }] });
    assert.deepEqual(journal.changedSince(10), new Set([9, 4]));
    assert.deepEqual(journal.changedSince(11), new Set([9]));
    assert.equal(journal.changedSince(9), undefined, 'older changes are only in the cache');
    journal.clear();
    assert.equal(journal.changedSince(12), undefined);
  });

  test('changedSince() no longer reaches below entries dropped for capacity', () => {
    const journal = new UpdateJournal();
    journal.completeFrom(0);
    const flagged = Array.from({ length: JOURNAL_CAPACITY + 1 }, (_, i) => ({ uid: i + 1, flags: [], modseq: String(i + 1) }));
    journal.append({ ...none, flagged });
    assert.equal(journal.changedSince(0), undefined);
    assert.equal(journal.changedSince(1)?.size, JOURNAL_CAPACITY);
  });
});
