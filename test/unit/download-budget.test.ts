import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { DownloadRecord } from '../../src/cache/records.js';
import { DownloadBudget, type DownloadLedger } from '../../src/sync/download-budget.js';
import { holdEventLoop } from '../support/event-loop.js';

const log = pino({ level: 'silent' });

/** The cache's records of the day's count, in memory. */
function memoryLedger(): DownloadLedger & { records: Map<string, DownloadRecord> } {
  const records = new Map<string, DownloadRecord>();
  return {
    records,
    getDownloads: async (acct) => records.get(acct),
    putDownloads: async (acct, record) => void records.set(acct, record),
  };
}

/** A clock that the test moves. */
function clock(start: Date) {
  let now = start.getTime();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('DownloadBudget', () => {
  holdEventLoop();

  test('counts the bytes of the local day and starts again at 0 after midnight', async () => {
    const time = clock(new Date(2026, 11, 7, 23, 59, 0));
    const budget = new DownloadBudget({ id: 'a', ledger: memoryLedger(), limit: 1000, log, now: time.now });
    await budget.ready;
    budget.note(700);
    budget.note(0);
    assert.deepEqual(budget.today(), { day: '2026-12-07', bytes: 700 });
    assert.equal(budget.nextDay(), new Date(2026, 11, 8).getTime());
    assert.equal(budget.reserve([400]).count, 0, 'the day\'s budget has 300 bytes left');
    time.advance(2 * 60_000);
    assert.deepEqual(budget.today(), { day: '2026-12-08', bytes: 0 });
    assert.equal(budget.reserve([400, 500, 200]).count, 2, 'a new day, a whole budget');
  });

  test('the background sync reserves what fits in what is left, until it releases it', async () => {
    const budget = new DownloadBudget({ id: 'a', ledger: memoryLedger(), limit: 1000, log });
    await budget.ready;
    budget.note(600);
    const first = budget.reserve([300, 200]);
    assert.equal(first.count, 1);
    assert.equal(budget.reserve([100, 1]).count, 1, '600 counted + 300 and 100 reserved: the budget is full');
    assert.equal(budget.reserve([0]).count, 0, 'nothing left: not even a header block');
    first.release();
    first.release();
    assert.equal(budget.reserve([301]).count, 0, 'released once: 300 free, 100 still reserved');
    assert.equal(budget.reserve([300]).count, 1);
  });

  test('without a limit everything fits', async () => {
    const budget = new DownloadBudget({ id: 'a', ledger: memoryLedger(), log });
    budget.note(10 ** 12);
    assert.equal(budget.reserve([10 ** 12, 1]).count, 2);
    assert.equal(budget.limit, undefined);
  });

  test('the day\'s count is kept in the cache: a restart the same day goes on from it, the next day does not', async () => {
    const ledger = memoryLedger();
    const time = clock(new Date(2026, 11, 7, 12, 0, 0));
    const first = new DownloadBudget({ id: 'a', ledger, limit: 1000, log, now: time.now });
    first.note(400);
    await first.close();
    first.note(1); // after close: not written
    assert.deepEqual(ledger.records.get('a'), { v: 1, day: '2026-12-07', bytes: 400 });

    const second = new DownloadBudget({ id: 'a', ledger, limit: 1000, log, now: time.now });
    second.note(50); // before the cache's count was read: added to it
    await second.ready;
    assert.equal(second.today().bytes, 450);
    assert.equal(second.reserve([550, 1]).count, 1);

    time.advance(24 * 3600_000);
    const third = new DownloadBudget({ id: 'a', ledger, limit: 1000, log, now: time.now });
    await third.ready;
    assert.equal(third.today().bytes, 0, 'yesterday\'s count is not today\'s');
    await third.close();
    assert.equal(ledger.records.get('a')?.day, '2026-12-07', 'nothing counted: nothing written');
  });

  test('untilNextDay resolves once the day has changed, and ends when aborted', async () => {
    const startedAt = Date.now();
    const midnight = new Date(2026, 11, 8).getTime();
    // 60 ms before midnight, running with the real clock
    const budget = new DownloadBudget({ id: 'a', ledger: memoryLedger(), log, now: () => midnight - 60 + (Date.now() - startedAt) });
    await budget.untilNextDay(new AbortController().signal);
    assert.equal(budget.today().day, '2026-12-08');
    assert.ok(Date.now() - startedAt >= 55);

    const stop = new AbortController();
    const waiting = budget.untilNextDay(stop.signal);
    stop.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
  });
});
