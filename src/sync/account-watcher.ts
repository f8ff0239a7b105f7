import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import {
  WATCH_DEBOUNCE_MS,
  WATCH_POLL_BACKOFF_MAX_MS,
  WATCH_POLL_MS,
  WATCH_POLL_NOTIFIED,
  WATCH_RETRY_MAX_MS,
  WATCH_RETRY_MIN_MS,
} from '../model/limits.js';
import type { FolderPath, FolderStatus } from '../model/types.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import { widerScope, type SyncScope } from './sync-scope.js';

export interface WatchTarget {
  /** Upstream says a folder changed (and maybe how it stands now); `scope`: what a sync must look at to find it. */
  folderChanged(path: FolderPath, status: FolderStatus | undefined, scope: SyncScope): void;
  /** A folder's STATUS for a poll, on a connection of the pool: the watcher's own is in IDLE. */
  pollStatus(path: FolderPath): Promise<FolderStatus>;
  /** The folders the proxy keeps a cache of. */
  cachedFolders(): FolderPath[];
  connectDedicated(): Promise<UpstreamConnection>;
  readonly log: Logger;
}

export interface WatchOptions {
  /** Without NOTIFY upstream: how often the cached folders no client has selected are polled while they change. */
  pollIntervalMs: number;
}

/**
 * Keeps one upstream connection per account watching for changes made elsewhere (other devices,
 * the server itself), so that sessions hear of them at once: IDLE on INBOX, NOTIFY for every
 * folder where upstream has it. Without NOTIFY, STATUS polls: every WATCH_POLL_MS of the folders
 * clients have selected and, a few at a time in turn, of those NOTIFY sessions watch; and one at a
 * time of every other folder the proxy keeps a cache of, every `pollIntervalMs` while something
 * changes, twice as long after each round that found nothing (up to WATCH_POLL_BACKOFF_MAX_MS).
 * A poll that finds new or expunged mail asks the folder for a quick sync, one where only UNSEEN
 * moved (a \Seen flag changed) for a full one; IDLE's EXPUNGE and EXISTS for a quick one, its FETCH
 * FLAGS for a look at the messages around that one (sync-scope.ts).
 * Reconnects with exponential backoff and jitter.
 */
export class AccountWatcher {
  private conn: UpstreamConnection | undefined;
  private running = false;
  private stopped = false;
  /** Which folder each client session has selected. */
  private readonly selected = new Map<string, FolderPath>();
  /** The folders each NOTIFY session watches for message changes. */
  private readonly notified = new Map<string, readonly FolderPath[]>();
  /** Where the next poll of the NOTIFY sessions' folders starts. */
  private notifiedTurn = 0;
  private readonly pending = new Map<FolderPath, { timer: NodeJS.Timeout; status?: FolderStatus; scope: SyncScope }>();
  private pollTimer: NodeJS.Timeout | undefined;
  /** The next round of polls of the other cached folders, and how long after the last one it comes. */
  private othersTimer: NodeJS.Timeout | undefined;
  private othersDelay: number;
  /** Something changed upstream since the round of the other folders began: the next one comes soon. */
  private changedSinceRound = false;
  private roundRunning = false;
  /** Folders whose STATUS poll has not been answered yet: not asked again meanwhile (a slow upstream). */
  private readonly polling = new Set<FolderPath>();
  /** What each folder's last poll said: a poll that finds the same reports nothing. */
  private readonly polled = new Map<FolderPath, FolderStatus>();
  /** Ends the pause before the next reconnect attempt. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly target: WatchTarget,
    private readonly options: WatchOptions,
  ) {
    this.othersDelay = options.pollIntervalMs;
  }

  /** Connected upstream and watching. */
  get watching(): boolean {
    return this.conn?.usable === true;
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.run();
  }

  /** Upstream is reachable again (a login got through): reconnect now rather than after the pause. */
  kick(): void {
    this.wake?.();
  }

  sessionSelected(sessionId: string, path: FolderPath): void {
    this.selected.set(sessionId, path);
  }

  sessionLeft(sessionId: string): void {
    this.selected.delete(sessionId);
    this.notified.delete(sessionId);
  }

  /** A NOTIFY session watches these folders (none: it stopped). */
  sessionNotified(sessionId: string, paths: readonly FolderPath[]): void {
    if (paths.length) this.notified.set(sessionId, paths);
    else this.notified.delete(sessionId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    clearInterval(this.pollTimer);
    clearTimeout(this.othersTimer);
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    await this.conn?.close();
  }

  private async run(): Promise<void> {
    let delay = WATCH_RETRY_MIN_MS;
    while (!this.stopped) {
      try {
        this.conn = await this.target.connectDedicated();
        if (this.stopped) break;
        delay = WATCH_RETRY_MIN_MS;
        if (!this.conn.notifies) {
          this.pollTimer = setInterval(() => this.poll(), WATCH_POLL_MS).unref();
          this.othersDelay = this.options.pollIntervalMs;
          this.scheduleOthers();
        }
        this.target.log.debug({ notify: this.conn.notifies }, 'watching upstream for changes');
        await this.conn.watch(
          (path, status, what) => this.changed(path, status, what === undefined ? 'full' : what === 'messages' ? 'quick' : { flagsAt: [what.flagsAt] }),
          // what changed before the watch began (or while it was down) is found by a resync
          () => new Set(['INBOX', ...this.selected.values()]).forEach((path) => this.changed(path, undefined, 'full')),
        );
      } catch (err) {
        if (isProxyError(err, 'UPSTREAM_AUTH_FAILED')) {
          // retrying a refused password could get the account locked upstream; the next login restarts the watch
          this.target.log.warn('upstream refuses the password of this account: not watching until a client logs in again');
          break;
        }
        if (!this.stopped) this.target.log.info({ err }, 'watching upstream failed; retrying');
      } finally {
        clearInterval(this.pollTimer);
        clearTimeout(this.othersTimer);
        await this.conn?.close();
        this.conn = undefined;
      }
      if (this.stopped) break;
      // exponential backoff with jitter, cut short by kick()
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay * (0.5 + Math.random()));
        timer.unref();
        this.wake = () => (clearTimeout(timer), resolve());
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, WATCH_RETRY_MAX_MS);
    }
    this.running = false;
  }

  /** The folders sessions have selected or watch with NOTIFY: polled every WATCH_POLL_MS. */
  private sessionFolders(): Set<FolderPath> {
    return new Set([...this.selected.values(), ...[...this.notified.values()].flat()]);
  }

  private poll(): void {
    if (!this.conn) return;
    // folders no session watches and the proxy no longer caches are forgotten
    const watched = new Set([...this.sessionFolders(), ...this.target.cachedFolders()]);
    for (const path of this.polled.keys()) if (!watched.has(path)) this.polled.delete(path);
    for (const path of new Set([...this.selected.values(), ...this.notifiedInTurn()])) void this.pollOne(path);
  }

  private scheduleOthers(): void {
    clearTimeout(this.othersTimer);
    this.othersTimer = setTimeout(() => void this.pollOthers(), this.othersDelay).unref();
  }

  /** One round of polls of the cached folders no session watches, one at a time; then the next is scheduled. */
  private async pollOthers(): Promise<void> {
    this.changedSinceRound = false;
    this.roundRunning = true;
    try {
      const busy = this.sessionFolders();
      for (const path of this.target.cachedFolders()) {
        if (!this.conn || this.stopped) return;
        if (!busy.has(path)) await this.pollOne(path);
      }
    } finally {
      this.roundRunning = false;
    }
    if (!this.conn || this.stopped) return;
    // an account where nothing changes is asked less and less often
    this.othersDelay = this.changedSinceRound ? this.options.pollIntervalMs : Math.min(this.othersDelay * 2, Math.max(WATCH_POLL_BACKOFF_MAX_MS, this.options.pollIntervalMs));
    this.scheduleOthers();
  }

  /** A folder's STATUS, compared with its last poll's. */
  private async pollOne(path: FolderPath): Promise<void> {
    if (path === 'INBOX' || this.polling.has(path)) return;
    this.polling.add(path);
    try {
      const status = await this.target.pollStatus(path);
      const previous = this.polled.get(path);
      if (previous && JSON.stringify(previous) === JSON.stringify(status)) return;
      this.polled.set(path, status);
      // UNSEEN moved while nothing came or went: a \Seen flag changed, which only a full sync finds
      const flagsOnly = previous !== undefined && previous.unseen !== status.unseen && previous.uidNext === status.uidNext && previous.messages === status.messages;
      // a first poll is compared with the cache (an unchanged folder costs nothing more)
      this.changed(path, status, flagsOnly ? 'full' : 'quick', previous === undefined);
    } catch (err) {
      this.target.log.debug({ err, folder: path }, 'STATUS poll failed');
    } finally {
      this.polling.delete(path);
    }
  }

  /** The next few of the folders NOTIFY sessions watch: each is polled in turn, the load stays bounded. */
  private notifiedInTurn(): FolderPath[] {
    const all = [...new Set([...this.notified.values()].flat())];
    if (all.length <= WATCH_POLL_NOTIFIED) return all;
    const start = this.notifiedTurn % all.length;
    this.notifiedTurn = start + WATCH_POLL_NOTIFIED;
    return [...all, ...all].slice(start, start + WATCH_POLL_NOTIFIED);
  }

  /** Several reports for one folder in quick succession become one resync, of the widest scope asked for. */
  private changed(path: FolderPath, status: FolderStatus | undefined, scope: SyncScope, firstPoll = false): void {
    if (!firstPoll) this.accountChanged();
    const pending = this.pending.get(path);
    if (pending) {
      if (status) pending.status = status;
      pending.scope = widerScope(pending.scope, scope);
      return;
    }
    const entry: { timer: NodeJS.Timeout; status?: FolderStatus; scope: SyncScope } = {
      timer: setTimeout(() => {
        this.pending.delete(path);
        this.target.folderChanged(path, entry.status, entry.scope);
      }, WATCH_DEBOUNCE_MS),
      scope,
      ...(status ? { status } : {}),
    };
    this.pending.set(path, entry);
  }

  /** Upstream changed: the other folders are polled at the shortest interval again. */
  private accountChanged(): void {
    this.changedSinceRound = true;
    if (this.roundRunning || this.othersDelay <= this.options.pollIntervalMs || !this.conn || this.conn.notifies) return;
    this.othersDelay = this.options.pollIntervalMs;
    this.scheduleOthers();
  }
}
