import { readFileSync } from 'node:fs';
import type { CacheStore } from '../cache/cache-store.js';
import type { Account } from '../sync/account.js';
import type { Accounts, KnownAccount } from '../sync/accounts.js';
import { dayOf } from '../sync/download-budget.js';
import type { PrefetchProgress } from '../sync/prefetch.js';
import { VERSION } from '../version.js';
import { accountStats } from './cache-admin.js';
import type { AccountStatus, StatusResult, Usage } from './protocol.js';

/** Anonymous resident memory in MB (LevelDB maps its files, so plain RSS counts page cache too). */
export function rssAnonMb(): number {
  try {
    const kb = Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    if (Number.isFinite(kb)) return Math.round(kb / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

export async function proxyStatus(options: {
  accounts: Accounts;
  store: CacheStore;
  startedAt: number;
  listen: string;
  tlsListen?: string;
  clients: () => number;
  tls: { cert: string; fingerprint: string };
}): Promise<StatusResult> {
  const accounts: AccountStatus[] = [];
  for (const known of options.accounts.known()) {
    const { id, name, user, upstream, live, tokensRefused } = known;
    const record = await options.store.getAccount(id);
    const cached = record ? (await accountStats(options.store, id, record)).totals : EMPTY;
    accounts.push({
      name,
      user,
      upstream,
      loggedIn: live !== undefined,
      connections: live ? live.pool.connectionCount + (live.watcher.watching ? 1 : 0) : 0,
      connectionLimit: known.connections,
      ...(live ? upstreamLimits(live) : {}),
      downloaded: await downloadedToday(known, options.store),
      watching: live?.watcher.watching ?? false,
      cached,
      served: live ? { cache: { ...live.served.cache }, upstream: { ...live.served.upstream }, parts: { ...live.served.parts } } : NOTHING_SERVED,
      upstreamTraffic: live ? live.pool.traffic : { read: 0, written: 0 },
      prefetch: live?.prefetcher ? prefetchStatus(live.prefetcher.status(), cached) : null,
      ...(tokensRefused ? { tokensRefused } : {}),
    });
  }
  return {
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - options.startedAt) / 1000),
    listen: options.listen,
    ...(options.tlsListen ? { tlsListen: options.tlsListen } : {}),
    clients: options.clients(),
    tls: options.tls,
    rssAnonMb: rssAnonMb(),
    accounts,
  };
}

/** What upstream imposes on the account now: fewer connections, a pause. */
function upstreamLimits(live: Account): Pick<AccountStatus, 'connectionsLimited' | 'throttledSeconds' | 'lockedOut'> {
  const until = live.pool.limitedUntil;
  const paused = live.pool.backoff.pausedMs;
  const lockout = live.pool.backoff.lockout;
  const connections = live.pool.capacity + (live.watcher.watching ? 1 : 0);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    ...(until !== undefined ? { connectionsLimited: { connections, until: iso(until) } } : {}),
    ...(paused > 0 && !lockout ? { throttledSeconds: Math.ceil(paused / 1000) } : {}),
    ...(lockout ? { lockedOut: { since: iso(lockout.since), until: iso(lockout.until), reason: lockout.reason } } : {}),
  };
}

/** Today's downloads: the live count, or (no client logged in since the start) what the cache kept of today's. */
async function downloadedToday(known: KnownAccount, store: CacheStore): Promise<AccountStatus['downloaded']> {
  const budget = known.prefetchBudget ?? null;
  if (known.live) return { ...known.live.downloads.today(), budget };
  const day = dayOf(Date.now());
  const record = await store.getDownloads(known.id);
  return { day, bytes: record?.day === day ? record.bytes : 0, budget };
}

const EMPTY: Usage = { messages: 0, bodies: 0, bodyBytes: 0, totalBytes: 0, otherBytes: 0 };
const NOTHING_SERVED: AccountStatus['served'] = { cache: { bodies: 0, bytes: 0 }, upstream: { bodies: 0, bytes: 0 }, parts: { cache: 0, upstream: 0 } };

/** The background sync's state, with the time it needs for the bodies still missing at its rate. */
function prefetchStatus(progress: PrefetchProgress, cached: Usage): AccountStatus['prefetch'] {
  const missing = cached.totalBytes - cached.bodyBytes;
  const eta = progress.state === 'running' && progress.mode === 'all' && progress.rate > 0 ? Math.round(missing / progress.rate) : undefined;
  return {
    state: progress.state,
    mode: progress.mode,
    ...(progress.folder ? { folder: progress.folder } : {}),
    rate: Math.round(progress.rate),
    ...(eta !== undefined ? { etaSeconds: eta } : {}),
    ...(progress.resumesAt !== undefined ? { resumesAt: new Date(progress.resumesAt).toISOString() } : {}),
  };
}
