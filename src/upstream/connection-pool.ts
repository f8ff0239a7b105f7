import type { Logger } from '../log.js';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProxyError, isUpstreamOut, ProxyError } from '../model/errors.js';
import {
  CLIENT_UPSTREAM_WAIT_MS,
  CONNECTION_LIMIT_HOLD_MAX_MS,
  CONNECTION_LIMIT_HOLD_MS,
  POOL_DRAIN_MS,
  THROTTLE_CLIENT_WAIT_MS,
  UPSTREAM_IDLE_CLOSE_MS,
  UPSTREAM_RETRY_MS,
} from '../model/limits.js';
import type { FolderPath, FolderStatus, Traffic } from '../model/types.js';
import { UpstreamBackoff } from './backoff.js';
import { UpstreamTraffic, type UpstreamConnection } from './upstream-connection.js';

/** Who is waiting: a client's own request always goes before work the proxy does on its own. */
export enum Priority {
  Client = 0,
  ReadAhead = 1,
  Background = 2,
}

export interface PoolRequest {
  /** The folder the work needs selected; undefined for folder-less commands (LIST, STATUS). */
  folder?: FolderPath;
  /** Work that changes the folder needs SELECT; reads are fine on EXAMINE or SELECT. */
  readWrite?: boolean;
  priority: Priority;
}

/** Opens and logs in one upstream connection (UpstreamConnection.connect; a fake in unit tests); `signal` abandons the attempt. */
export type Connect = (signal?: AbortSignal) => Promise<UpstreamConnection>;

/** The connection, and the folder status upstream gave if the pool had to (re)select it. */
export type PoolWork<T> = (conn: UpstreamConnection, opened: FolderStatus | null) => Promise<T>;

const isBackground = (request: PoolRequest) => request.priority !== Priority.Client;

interface Grant {
  conn: UpstreamConnection;
  /** Counted against the background share when it was granted. */
  background: boolean;
}

interface Waiter {
  request: PoolRequest;
  resolve: (grant: Grant) => void;
  reject: (err: unknown) => void;
}

/**
 * The upstream connections of one account: at most `size`, each used by one operation at a
 * time, opened on demand and closed when idle. Requests queue by priority; background work
 * leaves one connection for clients. When upstream cannot be reached, requests fail at once
 * (NO [UNAVAILABLE] for a client) until it is tried again; emits 'offline' and 'online'.
 * Upstream's limits (backoff.ts): while it asks for a pause, background work waits and no
 * connection is opened; a client's command waits for the pause as long as a client may; a
 * connection refused while others are open means upstream's connection limit: the pool works
 * with those for a while.
 */
export class ConnectionPool extends EventEmitter {
  /** The pace of the account's upstream commands, shared by its connections. */
  readonly backoff: UpstreamBackoff;
  /** What the account's connections share: attached to each, the dedicated ones too. */
  private readonly shared: UpstreamTraffic;
  /** Upstream refused another connection: no more than `size` until `until`. */
  private ceiling: { size: number; until: number } | undefined;
  private ceilingHold = CONNECTION_LIMIT_HOLD_MS;
  private readonly all = new Set<UpstreamConnection>();
  private readonly idle: UpstreamConnection[] = [];
  private readonly idleTimers = new Map<UpstreamConnection, NodeJS.Timeout>();
  private readonly waiters: Waiter[] = [];
  /** Every run() not settled yet. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private opening = 0;
  /** Abandons the connects under way: the pool closes, or upstream locks the account out (no login until the pause ends). */
  private connects = new AbortController();
  private busyBackground = 0;
  private closed = false;
  /** After a failed connect: fail fast until then. */
  private unreachableUntil = 0;
  private offline = false;

  constructor(
    private readonly connect: Connect,
    private readonly size: number,
    private readonly log: Logger,
    /** Told of every FETCH response the account's connections parse: its message bytes, and its ENVELOPE and BODYSTRUCTURE bytes. */
    fetched: (messageBytes: number, structureBytes: number) => void = () => undefined,
  ) {
    super();
    this.backoff = new UpstreamBackoff(log);
    this.shared = new UpstreamTraffic(this.backoff, fetched);
    this.backoff.on('resume', () => this.dispatch());
    this.backoff.on('locked', () => this.lockedOut());
  }

  /**
   * Upstream locks the account out: connects under way are abandoned before they log in (a login
   * during the pause is what the lockout forbids), and clients waiting for a connection are told
   * at once, as those that ask from now on are.
   */
  private lockedOut(): void {
    this.abandonConnects();
    const locked = this.lockedOutError();
    if (!locked) return;
    for (const waiter of this.waiters.filter((w) => w.request.priority === Priority.Client)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.reject(locked);
    }
  }

  private abandonConnects(): void {
    this.connects.abort();
    this.connects = new AbortController();
  }

  /** Connections the pool may have open now: its size, or fewer while upstream refuses more. */
  get capacity(): number {
    return this.limited ? (this.ceiling as { size: number }).size : this.size;
  }

  /** Upstream refused another connection: the pool keeps to the ones it had until then (epoch ms). */
  get limitedUntil(): number | undefined {
    return this.limited ? this.ceiling?.until : undefined;
  }

  private get limited(): boolean {
    return this.ceiling !== undefined && Date.now() < this.ceiling.until;
  }

  /** Upstream answered the last connect attempt. */
  get reachable(): boolean {
    return !this.offline;
  }

  /**
   * A connect failed: upstream is unreachable; say so once, retry after a pause: a short one, or
   * when upstream refused the connection (too many, throttled) one that grows with each refusal.
   */
  noteUnreachable(err: unknown): void {
    const lockout = this.noteLockout(err);
    const refused = isProxyError(err, 'UPSTREAM_THROTTLED');
    const retryAfter = refused ? (err.context['retryAfterMs'] as number | undefined) : undefined;
    this.unreachableUntil = Date.now() + (lockout ? this.backoff.pausedMs : refused ? this.backoff.refused(retryAfter) : UPSTREAM_RETRY_MS);
    if (this.offline) return;
    this.offline = true;
    // a lockout was logged by the backoff
    if (!lockout) this.log.warn({ err }, 'upstream unreachable: serving from the cache');
    this.emit('offline');
  }

  /**
   * A login was refused because the server locks the account out (backoff.ts): the whole account
   * pauses, its connections and logins too. False for any other error.
   */
  noteLockout(err: unknown): boolean {
    if (!isProxyError(err, 'UPSTREAM_THROTTLED') || err.context['lockout'] !== true) return false;
    this.backoff.lockedOut(String(err.context['reason'] ?? err.message), 'login');
    return true;
  }

  /** A connect succeeded (here or in the account's watcher or login). */
  noteReachable(): void {
    this.unreachableUntil = 0;
    this.backoff.connected();
    if (!this.offline) return;
    this.offline = false;
    this.log.info('upstream reachable again');
    this.emit('online');
  }

  /** Hands a connection that was opened to check a login to the pool. */
  adopt(conn: UpstreamConnection): void {
    if (this.closed || this.all.size + this.opening >= this.capacity) {
      void conn.close();
      return;
    }
    this.track(conn);
    this.release(conn);
  }

  /**
   * Room for one connection opened outside the pool (a login to check a client's password): it
   * counts against the pool's size until the returned function is called, then adopt() may take
   * it. At the size, an idle connection is closed to make room, or the first one freed by its job.
   */
  async reserve(): Promise<() => void> {
    for (;;) {
      if (this.closed) throw new ProxyError('UPSTREAM_UNAVAILABLE', 'the proxy is shutting down');
      if (this.all.size + this.opening < this.capacity) {
        this.opening++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          this.opening--;
          // after the caller's adopt(), which it makes in the same turn
          setImmediate(() => this.dispatch());
        };
      }
      const conn = this.idle.at(-1) ?? (await this.acquireAny());
      this.forget(conn);
      await conn.close();
    }
  }

  /** The first connection that is free, whatever its folder, for reserve() to close: no deadline, no connect of its own. */
  private acquireAny(): Promise<UpstreamConnection> {
    return new Promise((resolve, reject) => {
      this.enqueue({ request: { priority: Priority.Client }, resolve: ({ conn }) => resolve(conn), reject });
      this.dispatch();
    });
  }

  /** A connection outside the pool, with the account's credentials (the account watcher's). */
  async connectDedicated(): Promise<UpstreamConnection> {
    await this.backoff.turn(Infinity, 'connect');
    const abandoned = this.connects.signal;
    try {
      const conn = await this.connect(abandoned);
      this.noteReachable();
      conn.attach(this.shared);
      return conn;
    } catch (err) {
      if (abandoned.aborted) throw err;
      // refused while the pool has connections: upstream's limit, not upstream gone
      if (isUpstreamOut(err) && this.all.size === 0) this.noteUnreachable(err);
      else this.noteLockout(err);
      throw err;
    }
  }

  get connectionCount(): number {
    return this.all.size;
  }

  /** Bytes read from and written to upstream since the start by the account's connections, the dedicated ones too. */
  get traffic(): Traffic {
    return this.shared.total;
  }

  run<T>(request: PoolRequest, work: PoolWork<T>): Promise<T> {
    return this.hold(this.runGranted(request, work));
  }

  /**
   * Work that spans several jobs and writes to the cache between them (a section from pieces
   * fetched on different connections): close() waits for it as for a job, so it can finish or
   * drop what it wrote before the cache closes.
   */
  hold<T>(task: Promise<T>): Promise<T> {
    this.inFlight.add(task);
    task.then(
      () => this.inFlight.delete(task),
      () => this.inFlight.delete(task),
    );
    return task;
  }

  private async runGranted<T>(request: PoolRequest, work: PoolWork<T>): Promise<T> {
    const { conn, background } = await this.acquire(request);
    conn.patience = request.priority === Priority.Client ? THROTTLE_CLIENT_WAIT_MS : Infinity;
    try {
      let opened: FolderStatus | null = null;
      if (request.folder !== undefined && (conn.selectedPath !== request.folder || (request.readWrite && conn.selectedReadOnly))) {
        opened = await conn.open(request.folder, !request.readWrite);
      }
      return await work(conn, opened);
    } finally {
      if (background) this.busyBackground--;
      this.release(conn);
    }
  }

  /**
   * Before a folder is deleted or renamed upstream: idle connections that have it (or a folder
   * below it) selected are closed. A server may end such a session, or keep an index that a
   * folder created again under the same name then conflicts with (Dovecot: "duplicate
   * transaction log sequence").
   */
  leaveFolder(path: FolderPath): void {
    for (const conn of this.idle.filter((c) => c.selectedPath === path || c.selectedPath?.startsWith(`${path}/`))) {
      this.forget(conn);
      void conn.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abandonConnects();
    this.backoff.close();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new ProxyError('UPSTREAM_UNAVAILABLE', 'the proxy is shutting down'));
    }
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    await Promise.all([...this.all].map((conn) => conn.close()));
    this.all.clear();
    this.idle.length = 0;
    // the work that ran fails now; let it clean up (drop the chunks of a section it was
    // streaming) before the cache closes, unless that takes too long
    await Promise.race([Promise.allSettled([...this.inFlight]), sleep(POOL_DRAIN_MS, undefined, { ref: false })]);
  }

  /**
   * Raises a request to client priority, a client now waits for what it fetches: its queued jobs
   * move up, and jobs it starts later (the next pieces of a large body) queue as a client's.
   */
  promote(request: PoolRequest): void {
    if (request.priority === Priority.Client) return;
    request.priority = Priority.Client;
    const queued = this.waiters.filter((w) => w.request === request);
    if (queued.length === 0) return;
    for (const waiter of queued) this.waiters.splice(this.waiters.indexOf(waiter), 1);
    for (const waiter of queued) this.enqueue(waiter);
    this.dispatch();
  }

  private acquire(request: PoolRequest): Promise<Grant> {
    if (this.closed) return Promise.reject(new ProxyError('UPSTREAM_UNAVAILABLE', 'the proxy is shutting down'));
    const locked = this.lockedOutError();
    if (locked && request.priority === Priority.Client) return Promise.reject(locked);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { request, resolve, reject };
      if (request.priority === Priority.Client) {
        // a client does not wait for a connect that may never finish (upstream gone silent)
        const timer = setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index < 0 || this.all.size > 0) return;
          this.waiters.splice(index, 1);
          reject(new ProxyError('UPSTREAM_UNAVAILABLE', 'no upstream connection within the client deadline'));
        }, CLIENT_UPSTREAM_WAIT_MS);
        timer.unref();
        waiter.resolve = (grant) => (clearTimeout(timer), resolve(grant));
        waiter.reject = (err) => (clearTimeout(timer), reject(err));
      }
      this.enqueue(waiter);
      this.dispatch();
    });
  }

  /** While the server locks the account out for longer than a client waits: what a client is told at once. */
  private lockedOutError(): ProxyError | undefined {
    return this.backoff.lockedOutFor('a client request', THROTTLE_CLIENT_WAIT_MS);
  }

  /** Keeps the queue ordered by priority, first come first served within one priority. */
  private enqueue(waiter: Waiter): void {
    const at = this.waiters.findIndex((w) => w.request.priority > waiter.request.priority);
    if (at < 0) this.waiters.push(waiter);
    else this.waiters.splice(at, 0, waiter);
  }

  private release(conn: UpstreamConnection): void {
    if (!conn.usable || this.closed) {
      this.forget(conn);
      if (!this.closed) void conn.close();
      this.dispatch();
      return;
    }
    this.idle.push(conn);
    this.idleTimers.set(
      conn,
      setTimeout(() => {
        this.forget(conn);
        void conn.close();
      }, UPSTREAM_IDLE_CLOSE_MS).unref(),
    );
    this.dispatch();
  }

  private dispatch(): void {
    while (this.waiters.length > 0) {
      const index = this.waiters.findIndex((w) => this.mayRun(w.request));
      if (index < 0) return;
      const waiter = this.waiters[index] as Waiter;
      const conn = this.takeIdle(waiter.request);
      if (!conn && Date.now() < this.unreachableUntil) {
        // upstream failed a moment ago: fail now rather than try again for every request
        this.waiters.splice(index, 1);
        waiter.reject(this.lockedOutError() ?? new ProxyError('UPSTREAM_UNAVAILABLE', 'upstream is unreachable'));
        continue;
      }
      if (!conn) {
        this.openForWaiting();
        return;
      }
      this.waiters.splice(index, 1);
      // counted when granted, not when the caller resumes: one dispatch may grant several
      const background = isBackground(waiter.request);
      if (background) this.busyBackground++;
      waiter.resolve({ conn, background });
    }
  }

  /**
   * Opens connections for the requests that wait, one per request not covered by a connect
   * already under way. A new connection goes to whoever waits first when it is ready, and a
   * request may get a busy one that frees up sooner: across a link a connect and login take
   * several round trips, a job on an open connection often less.
   */
  private openForWaiting(): void {
    // background requests count only as far as they may take connections
    let runnable = 0;
    let backgroundSlots = this.backgroundSlots();
    for (const waiter of this.waiters) {
      if (isBackground(waiter.request)) {
        if (backgroundSlots <= 0) continue;
        backgroundSlots--;
      }
      runnable++;
    }
    // a login during a pause would only be throttled too: connections open when it ends
    if (this.backoff.pausedMs > 0) return;
    for (let n = runnable - this.opening; n > 0 && this.all.size + this.opening < this.capacity; n--) this.open();
  }

  /** Background work may not take the last connection while there is more than one, nor run while upstream asks for a pause. */
  private mayRun(request: PoolRequest): boolean {
    return !isBackground(request) || (this.backgroundSlots() > 0 && this.backoff.pausedMs === 0);
  }

  /** Connections background work may still take: all but one, or the only one. */
  private backgroundSlots(): number {
    const capacity = this.capacity;
    return capacity === 1 ? Infinity : capacity - 1 - this.busyBackground;
  }

  private takeIdle(request: PoolRequest): UpstreamConnection | undefined {
    if (this.idle.length === 0) return undefined;
    // the one used last: for a folder, the connection its last sync ran on (folder.ts lastSync)
    let index = this.idle.findLastIndex((c) => c.selectedPath === request.folder && (!request.readWrite || !c.selectedReadOnly));
    if (index < 0) index = this.idle.length - 1;
    const [conn] = this.idle.splice(index, 1);
    if (!conn) return undefined;
    clearTimeout(this.idleTimers.get(conn));
    this.idleTimers.delete(conn);
    if (!conn.usable) {
      this.forget(conn);
      return this.takeIdle(request);
    }
    return conn;
  }

  private open(): void {
    this.opening++;
    const abandoned = this.connects.signal;
    this.connect(abandoned)
      .then(
        (conn) => {
          this.opening--;
          if (this.closed) {
            void conn.close();
            return;
          }
          this.noteReachable();
          if (!this.limited) this.ceilingHold = CONNECTION_LIMIT_HOLD_MS;
          this.track(conn);
          this.release(conn);
        },
        (err: unknown) => {
          this.opening--;
          // the pool closed, or a lockout began: the waiting requests were told
          if (abandoned.aborted) return;
          // locked out while connections are open: the waiting requests get those, and the pause
          if (this.all.size > 0 && this.noteLockout(err)) return;
          if (isUpstreamOut(err) && this.all.size > 0) {
            // the waiting requests get the connections that are open
            this.limit(err);
            return;
          }
          if (isUpstreamOut(err)) this.noteUnreachable(err);
          // the first waiting request gets the error, as if the connect had been its own: a
          // refused login is not tried again and again while requests wait
          const index = this.waiters.findIndex((w) => this.mayRun(w.request));
          if (index >= 0) this.waiters.splice(index, 1)[0]?.reject(err);
        },
      )
      .finally(() => this.dispatch());
  }

  /**
   * A connect failed while connections were open: upstream's connection limit (too many
   * connections of the account, its other clients' included). The pool keeps to those it has
   * for a while, longer each time it is refused again.
   */
  private limit(err: unknown): void {
    const hold = this.ceilingHold + this.backoff.jitter(this.ceilingHold);
    this.ceiling = { size: this.all.size, until: Date.now() + hold };
    this.ceilingHold = Math.min(this.ceilingHold * 2, CONNECTION_LIMIT_HOLD_MAX_MS);
    this.log.info({ connections: this.all.size, retryInMs: hold, reason: (err as Error).message }, 'upstream refused another connection: working with those open');
  }

  private track(conn: UpstreamConnection): void {
    conn.attach(this.shared);
    this.all.add(conn);
    conn.once('close', () => {
      this.forget(conn);
      this.dispatch();
    });
  }

  private forget(conn: UpstreamConnection): void {
    this.all.delete(conn);
    const index = this.idle.indexOf(conn);
    if (index >= 0) this.idle.splice(index, 1);
    clearTimeout(this.idleTimers.get(conn));
    this.idleTimers.delete(conn);
  }
}
