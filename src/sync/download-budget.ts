import { setTimeout as sleep } from 'node:timers/promises';
import { RECORD_VERSION, type DownloadRecord } from '../cache/records.js';
import type { Logger } from '../log.js';
import { DOWNLOAD_SAVE_MS } from '../model/limits.js';
import type { AccountId } from '../model/types.js';

/** Where the day's count is kept (the cache). */
export interface DownloadLedger {
  getDownloads(acct: AccountId): Promise<DownloadRecord | undefined>;
  putDownloads(acct: AccountId, record: DownloadRecord): Promise<void>;
}

/** The local calendar day of a time, YYYY-MM-DD. */
export function dayOf(time: number): string {
  const date = new Date(time);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

/** When the local day after the one `time` is in begins. */
export function nextDayStart(time: number): number {
  const date = new Date(time);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + 1).getTime();
}

export interface DownloadBudgetOptions {
  id: AccountId;
  ledger: DownloadLedger;
  /** Bytes a day the background sync may take the count to; none: no limit. */
  limit?: number;
  log: Logger;
  now?: () => number;
}

/**
 * The message bytes one account downloaded today (local time: the count starts again at
 * midnight), for its clients and its background sync alike, against the background sync's daily
 * budget: the background sync reserves what it is about to fetch and waits for the next day
 * when nothing more fits; nothing holds a client's fetch back. The count is kept in the cache
 * (written at most every DOWNLOAD_SAVE_MS, and at close), so a restart does not start the day
 * afresh.
 */
export class DownloadBudget {
  private day: string;
  private bytes = 0;
  private reserved = 0;
  private dirty = false;
  private closed = false;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  /** The count the cache had for today has been added in. */
  readonly ready: Promise<void>;

  constructor(private readonly options: DownloadBudgetOptions) {
    this.day = dayOf(this.now());
    this.ready = options.ledger.getDownloads(options.id).then(
      (record) => {
        if (record && record.day === this.today().day) this.bytes += record.bytes;
      },
      (err: unknown) => options.log.warn({ err }, 'the count of bytes downloaded today could not be read: counting from 0'),
    );
  }

  /** The background sync's daily budget; undefined: none. */
  get limit(): number | undefined {
    return this.options.limit;
  }

  /** Today, and the bytes downloaded so far today. */
  today(): { day: string; bytes: number } {
    const day = dayOf(this.now());
    if (day !== this.day) {
      this.day = day;
      this.bytes = 0;
    }
    return { day, bytes: this.bytes };
  }

  /** Upstream sent this many bytes of message data. */
  note(bytes: number): void {
    if (bytes <= 0) return;
    this.today();
    this.bytes += bytes;
    this.dirty = true;
    if (!this.saveTimer && !this.closed) {
      this.saveTimer = setTimeout(() => {
        this.saveTimer = undefined;
        void this.save();
      }, DOWNLOAD_SAVE_MS).unref();
    }
  }

  /**
   * For the background sync: the leading items of `sizes` (bytes each is expected to take) that
   * fit in what is left of today's budget, none when nothing is left; they stay reserved until
   * `release`, once fetched (and counted).
   */
  reserve(sizes: readonly number[]): { count: number; release(): void } {
    const { limit } = this.options;
    if (limit === undefined) return { count: sizes.length, release: () => undefined };
    const left = limit - this.today().bytes - this.reserved;
    let count = 0;
    let sum = 0;
    while (left > 0 && count < sizes.length && sum + (sizes[count] as number) <= left) sum += sizes[count++] as number;
    this.reserved += sum;
    let released = false;
    return {
      count,
      release: () => {
        if (!released) this.reserved -= sum;
        released = true;
      },
    };
  }

  /** When the budget is whole again: the start of the next day. */
  nextDay(): number {
    return nextDayStart(this.now());
  }

  /** Resolves when a new day has begun; rejects when `signal` aborts first. */
  async untilNextDay(signal: AbortSignal): Promise<void> {
    const day = this.today().day;
    while (this.today().day === day) await sleep(Math.max(this.nextDay() - this.now(), 10), undefined, { ref: false, signal });
  }

  /** Writes the count now (at shutdown); later counts are not written. */
  async close(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (this.closed) return;
    this.closed = true;
    await this.save();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private save(): Promise<void> {
    this.saving = this.saving
      .then(() => this.ready)
      .then(async () => {
        if (!this.dirty) return;
        this.dirty = false;
        const record: DownloadRecord = { v: RECORD_VERSION, ...this.today() };
        await this.options.ledger.putDownloads(this.options.id, record);
      })
      .catch((err: unknown) => this.options.log.warn({ err }, 'the count of bytes downloaded today could not be saved'));
    return this.saving;
  }
}
