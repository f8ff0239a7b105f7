import type { ClientActivity } from './client-activity.js';
import type { CacheStore } from '../cache/cache-store.js';
import { HEADER_BLOCK } from '../cache/keys.js';
import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import { METADATA_SCAN_BATCH, PREFETCH_BATCH_MESSAGES, PREFETCH_PROGRESS_MS, PREFETCH_RETRY_MS, PREFETCH_WORKERS } from '../model/limits.js';
import { isSelectable, type FolderListEntry, type FolderPath, type MessageMeta, type PrefetchMode, type Uid } from '../model/types.js';
import { mergeSorted } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import type { DownloadBudget } from './download-budget.js';
import type { Folder } from './folder.js';
import type { FolderGeneration } from './generation.js';

/** The account as the background sync uses it. */
export interface PrefetchTarget {
  readonly store: CacheStore;
  readonly clients: ClientActivity;
  /** Today's downloads against the daily budget: the sync pauses when it is spent. */
  readonly downloads: DownloadBudget;
  list(): Promise<FolderListEntry[]>;
  folder(path: FolderPath): Folder;
}

export interface PrefetchOptions {
  mode: Exclude<PrefetchMode, 'off'>;
  /** Bodies larger than this are left for clients to fetch on demand. */
  maxBodySize?: number;
}

/**
 * Where the background sync is, for logs and the admin interface. The counts are of its current
 * pass (what it found missing when it began, and what it fetched of that since); what the cache
 * holds is counted from the cache itself (`cache stats`, `status`).
 */
export interface PrefetchProgress {
  state: 'idle' | 'listing' | 'running' | 'done' | 'waiting' | 'paused';
  mode: PrefetchOptions['mode'];
  folder?: FolderPath;
  /** Paused (the day's download budget is spent) until then (ms since epoch). */
  resumesAt?: number;
  messagesDone: number;
  messagesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Body bytes per second since the pass began. */
  rate: number;
}

/**
 * The background sync of one account: fills the cache with every folder's metadata and, in
 * "all" mode, every body (in "headers" mode ENVELOPE, BODYSTRUCTURE and header blocks), INBOX
 * first, then the folders with the newest mail, newest messages first. It works with background
 * priority on at most the connections the pool leaves to background work, so a client never
 * waits behind it, and in batches of fixed size. What is cached already is skipped: after a
 * restart it carries on where it stopped. Afterwards it follows changes: new mail is fetched
 * as the account watcher reports it. It keeps within the account's daily download budget
 * (download-budget.ts): when the day's is spent, it pauses until the next day.
 */
export class Prefetcher {
  private progress: PrefetchProgress;
  private started = 0;
  private running: Promise<void> | undefined;
  private followUp: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  private lastLog = 0;
  /** Ends the pause before retrying an interrupted walk. */
  private wake: (() => void) | undefined;
  /** Ends a wait for the next day's budget. */
  private readonly halt = new AbortController();
  /** The wait for the next day's budget, shared by the workers. */
  private pausing: Promise<void> | undefined;

  constructor(
    private readonly account: PrefetchTarget,
    private readonly options: PrefetchOptions,
    private readonly log: Logger,
  ) {
    this.progress = this.freshProgress('idle');
  }

  private freshProgress(state: PrefetchProgress['state']): PrefetchProgress {
    return { state, mode: this.options.mode, messagesDone: 0, messagesTotal: 0, bytesDone: 0, bytesTotal: 0, rate: 0 };
  }

  /** Starts a walk over every folder, unless one is running or done (new mail then comes by folderGrew). */
  start(): void {
    if (this.stopped || this.running || this.progress.state === 'done') return;
    this.running = this.walkUntilDone().finally(() => {
      this.running = undefined;
    });
  }

  status(): PrefetchProgress {
    return { ...this.progress };
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.halt.abort();
  }

  /** Upstream is reachable again: an interrupted walk goes on now. */
  resume(): void {
    this.wake?.();
  }

  private async walkUntilDone(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.walk();
      } catch (err) {
        if (this.stopped) return;
        this.log.info({ err }, 'background sync interrupted; retrying');
        this.progress.state = 'waiting';
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, PREFETCH_RETRY_MS);
          timer.unref();
          this.wake = () => (clearTimeout(timer), resolve());
        });
        this.wake = undefined;
        this.again = true;
      }
    } while (this.again && !this.stopped);
  }

  private async walk(): Promise<void> {
    this.progress = this.freshProgress('listing');
    this.started = Date.now();
    const entries = await this.account.list();
    const generations: FolderGeneration[] = [];
    for (const entry of entries) {
      if (!isSelectable(entry)) continue;
      const folder = this.account.folder(entry.path);
      await folder.sync(Priority.Background, 'quick');
      if (folder.generation) generations.push(folder.generation);
    }
    const plans: { generation: FolderGeneration; uids: readonly Uid[] }[] = [];
    for (const generation of await this.byRecency(generations)) {
      const { uids, bodies } = await this.wanted(generation);
      plans.push({ generation, uids });
      this.progress.messagesTotal += uids.length;
      this.progress.bytesTotal += await this.sizeOf(generation, bodies);
    }
    this.progress.state = 'running';
    for (const { generation, uids } of plans) {
      if (this.stopped) return;
      this.progress.folder = generation.path;
      await this.fill(generation, uids);
      this.report(true);
    }
    this.progress.state = 'done';
    delete this.progress.folder;
    this.log.info(this.summary(), 'background sync complete');
  }

  /** New mail in a folder (the account watcher found it): fetched right away. */
  folderGrew(path: FolderPath): void {
    if (this.stopped || this.progress.state !== 'done') return;
    const generation = this.account.folder(path).generation;
    if (!generation) return;
    this.followUp = this.followUp
      .then(async () => this.fill(generation, (await this.wanted(generation)).uids))
      .catch((err: unknown) => this.log.info({ err, folder: path }, 'fetching new mail in the background failed'));
  }

  /**
   * What a folder still needs, ascending (filled newest first): the messages without ENVELOPE/BODYSTRUCTURE, or
   * without a body ("all" mode; those are `bodies`) or a header block ("headers" mode). Found
   * from the cache's keys alone: after a restart, a big folder that is complete costs a scan of
   * its keys, not a read of every record.
   */
  private async wanted(generation: FolderGeneration): Promise<{ uids: readonly Uid[]; bodies: Uid[] }> {
    const bodies = this.options.mode === 'all' ? await generation.bodies.uncached() : [];
    const content = this.options.mode === 'all' ? bodies : await generation.items.uncachedHeaders();
    // merged, not gathered in a Set: a cold 1,000,000-message folder is a million of each
    return { uids: mergeSorted(content, await generation.items.uncachedStructures()), bodies };
  }

  private async sizeOf(generation: FolderGeneration, uids: Uid[]): Promise<number> {
    let bytes = 0;
    for (let i = 0; i < uids.length; i += METADATA_SCAN_BATCH) {
      for (const meta of await this.account.store.getMetas(generation.fid, uids.slice(i, i + METADATA_SCAN_BATCH))) bytes += meta?.size ?? 0;
    }
    return bytes;
  }

  /** INBOX first, then by the date of each folder's newest message. */
  private async byRecency(generations: FolderGeneration[]): Promise<FolderGeneration[]> {
    const newest = new Map<FolderGeneration, number>();
    for (const generation of generations) {
      const last = generation.uids[generation.uids.length - 1];
      const [meta] = last !== undefined ? await this.account.store.getMetas(generation.fid, [last]) : [];
      newest.set(generation, meta ? Date.parse(meta.internalDate.replace(/-/g, ' ')) || 0 : 0);
    }
    return generations.sort((a, b) => (a.path === 'INBOX' ? -1 : b.path === 'INBOX' ? 1 : (newest.get(b) ?? 0) - (newest.get(a) ?? 0)));
  }

  /**
   * A folder's messages (ascending UIDs) newest first, in batches of a fixed count, a few batches
   * at a time (the body fetcher splits each into upstream commands of bounded size; nothing of a
   * batch stays in memory).
   */
  private async fill(generation: FolderGeneration, uids: readonly Uid[]): Promise<void> {
    let end = uids.length;
    const worker = async () => {
      while (end > 0 && !this.stopped) {
        await this.account.clients.quiet();
        if (end <= 0 || this.stopped) return;
        const batch = uids.slice(Math.max(0, end - PREFETCH_BATCH_MESSAGES), end);
        end -= batch.length;
        const metas = (await this.account.store.getMetas(generation.fid, batch)).filter((m): m is MessageMeta => !!m);
        await this.fetchWithinBudget(generation, metas.filter((meta) => this.wants(meta)));
        this.progress.messagesDone += batch.length;
        this.report(false);
      }
    };
    await Promise.all(Array.from({ length: PREFETCH_WORKERS }, worker));
  }

  /** A body larger than the size limit, or than a whole day's budget, is left for clients to fetch. */
  private wants(meta: MessageMeta): boolean {
    if (this.options.mode === 'headers') return true;
    return meta.size <= Math.min(this.options.maxBodySize ?? Infinity, this.account.downloads.limit ?? Infinity);
  }

  /** Fetches these in turn as today's download budget allows them, waiting for the next day when it is spent. */
  private async fetchWithinBudget(generation: FolderGeneration, metas: MessageMeta[]): Promise<void> {
    await this.account.downloads.ready; // today's count from before a restart
    let rest = metas;
    while (rest.length > 0 && !this.stopped) {
      // a body is about its size; in "headers" mode the header blocks count when they came
      const grant = this.account.downloads.reserve(rest.map((meta) => (this.options.mode === 'all' ? meta.size : 0)));
      if (grant.count === 0) {
        await this.pauseForBudget();
        continue;
      }
      try {
        await this.fetch(generation, rest.slice(0, grant.count));
      } finally {
        grant.release();
      }
      rest = rest.slice(grant.count);
    }
  }

  /** The day's budget is spent: the sync waits for the next day (or its stop), all workers on one wait. */
  private pauseForBudget(): Promise<void> {
    this.pausing ??= (async () => {
      const { downloads } = this.account;
      const state = this.progress.state;
      const resumesAt = downloads.nextDay();
      this.progress.state = 'paused';
      this.progress.resumesAt = resumesAt;
      this.log.info(
        { downloadedBytes: downloads.today().bytes, budgetBytes: downloads.limit, resumesAt: new Date(resumesAt).toISOString() },
        "background sync paused: the day's download budget is spent",
      );
      try {
        await downloads.untilNextDay(this.halt.signal);
        this.log.info('background sync resumes: a new day, a new download budget');
      } catch {
        // stopped
      } finally {
        if (this.progress.state === 'paused') this.progress.state = state;
        delete this.progress.resumesAt;
        this.pausing = undefined;
      }
    })();
    return this.pausing;
  }

  private async fetch(generation: FolderGeneration, metas: MessageMeta[]): Promise<void> {
    if (metas.length === 0) return;
    try {
      await generation.items.structures(metas, ['envelope', 'bodystructure'], Priority.Background);
      if (this.options.mode === 'all') {
        const bytes = await generation.bodies.prefetch(metas); // not `+= await`: workers run side by side
        this.progress.bytesDone += bytes;
      } else {
        await generation.items.sections(metas, HEADER_BLOCK, Priority.Background);
      }
    } catch (err) {
      // a folder deleted meanwhile is skipped; anything else interrupts the walk
      if (!isProxyError(err, 'NONEXISTENT')) throw err;
    }
  }

  private report(force: boolean): void {
    const now = Date.now();
    const elapsed = (now - this.started) / 1000;
    this.progress.rate = elapsed > 0 ? this.progress.bytesDone / elapsed : 0;
    if (!force && now - this.lastLog < PREFETCH_PROGRESS_MS) return;
    this.lastLog = now;
    this.log.info(this.summary(), 'background sync');
  }

  /** This pass, for the log: what it fetched of what it found missing. */
  private summary(): Record<string, unknown> {
    const p = this.progress;
    return {
      folder: p.folder,
      fetchedMessages: `${p.messagesDone}/${p.messagesTotal}`,
      fetchedMegabytes: `${Math.round(p.bytesDone / 1e6)}/${Math.round(p.bytesTotal / 1e6)}`,
      rateMBps: Number((p.rate / 1e6).toFixed(1)),
    };
  }
}
