import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import { WATCH_DEBOUNCE_MS, WATCH_POLL_MS, WATCH_POLL_NOTIFIED, WATCH_RETRY_MAX_MS, WATCH_RETRY_MIN_MS } from '../model/limits.js';
import type { FolderPath, FolderStatus } from '../model/types.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';

export interface WatchTarget {
  /** Upstream says a folder changed (and maybe how it stands now). */
  folderChanged(path: FolderPath, status?: FolderStatus): void;
  /** A folder's STATUS for a poll, on a connection of the pool: the watcher's own is in IDLE. */
  pollStatus(path: FolderPath): Promise<FolderStatus>;
  connectDedicated(): Promise<UpstreamConnection>;
  readonly log: Logger;
}

/**
 * Keeps one upstream connection per account watching for changes made elsewhere (other devices,
 * the server itself), so that sessions hear of them at once: IDLE on INBOX, NOTIFY for every
 * folder where upstream has it, else STATUS polls of the folders clients have selected and, a few
 * at a time in turn, of those NOTIFY sessions watch.
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
  private readonly pending = new Map<FolderPath, { timer: NodeJS.Timeout; status?: FolderStatus }>();
  private pollTimer: NodeJS.Timeout | undefined;
  /** Folders whose STATUS poll has not been answered yet: not asked again meanwhile (a slow upstream). */
  private readonly polling = new Set<FolderPath>();
  /** What each folder's last poll said: a poll that finds the same reports nothing. */
  private readonly polled = new Map<FolderPath, string>();
  /** Ends the pause before the next reconnect attempt. */
  private wake: (() => void) | undefined;

  constructor(private readonly target: WatchTarget) {}

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
        if (!this.conn.notifies) this.pollTimer = setInterval(() => this.poll(), WATCH_POLL_MS).unref();
        this.target.log.debug({ notify: this.conn.notifies }, 'watching upstream for changes');
        await this.conn.watch(
          (path, status) => this.changed(path, status),
          // what changed before the watch began (or while it was down) is found by a resync
          () => new Set(['INBOX', ...this.selected.values()]).forEach((path) => this.changed(path)),
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

  private poll(): void {
    if (!this.conn) return;
    // folders no session watches any more are forgotten
    const watched = new Set([...this.selected.values(), ...[...this.notified.values()].flat()]);
    for (const path of this.polled.keys()) if (!watched.has(path)) this.polled.delete(path);
    for (const path of new Set([...this.selected.values(), ...this.notifiedInTurn()])) {
      if (path === 'INBOX' || this.polling.has(path)) continue;
      this.polling.add(path);
      this.target
        .pollStatus(path)
        .then(
          (status) => {
            const seen = JSON.stringify(status);
            if (this.polled.get(path) === seen) return;
            this.polled.set(path, seen);
            this.changed(path, status);
          },
          (err: unknown) => this.target.log.debug({ err, folder: path }, 'STATUS poll failed'),
        )
        .finally(() => this.polling.delete(path));
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

  /** Several reports for one folder in quick succession become one resync. */
  private changed(path: FolderPath, status?: FolderStatus): void {
    const pending = this.pending.get(path);
    if (pending) {
      if (status) pending.status = status;
      return;
    }
    const entry: { timer: NodeJS.Timeout; status?: FolderStatus } = {
      timer: setTimeout(() => {
        this.pending.delete(path);
        this.target.folderChanged(path, entry.status);
      }, WATCH_DEBOUNCE_MS),
      ...(status ? { status } : {}),
    };
    this.pending.set(path, entry);
  }
}
