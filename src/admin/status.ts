import { readFileSync } from 'node:fs';
import type { Accounts } from '../sync/accounts.js';
import { VERSION } from '../version.js';
import type { StatusResult } from './protocol.js';

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

export function proxyStatus(options: {
  accounts: Accounts;
  startedAt: number;
  listen: string;
  tlsListen?: string;
  clients: () => number;
}): StatusResult {
  return {
    version: VERSION,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - options.startedAt) / 1000),
    listen: options.listen,
    ...(options.tlsListen ? { tlsListen: options.tlsListen } : {}),
    clients: options.clients(),
    rssAnonMb: rssAnonMb(),
    accounts: options.accounts.list().map((account) => ({
      user: account.user,
      upstream: account.upstream,
      connections: account.pool.connectionCount,
      watching: account.watcher.watching,
      served: { cache: { ...account.served.cache }, upstream: { ...account.served.upstream } },
      prefetch: account.prefetcher ? account.prefetcher.status() : null,
    })),
  };
}
