import { join } from 'node:path';
import { CacheStore } from './cache/cache-store.js';
import type { StartConfig } from './config/schema.js';
import { startImapServer } from './imap/server.js';
import type { Logger } from './log.js';
import { FRESH_BODIES_BYTES } from './model/limits.js';
import { Accounts } from './sync/accounts.js';
import { FreshBodies } from './sync/fresh-bodies.js';
import { VERSION } from './version.js';

export interface RunningProxy {
  /** Where clients connect (the real port when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * The composition root: opens the cache, starts the client-facing server, and shuts all of it
 * down in order (clients first, then upstream connections, then LevelDB).
 */
export async function startProxy(config: StartConfig, log: Logger): Promise<RunningProxy> {
  const store = await CacheStore.open(join(config.data, 'cache'), log);
  const accounts = new Accounts({
    endpoint: config.upstream,
    store,
    freshBodies: new FreshBodies(FRESH_BODIES_BYTES),
    ...(config.prefetch !== 'off'
      ? { prefetch: { mode: config.prefetch, ...(config.prefetchMaxSize !== undefined ? { maxBodySize: config.prefetchMaxSize } : {}) } }
      : {}),
    connectionsPerAccount: config.upstreamConnections,
    log,
  });
  let imap;
  try {
    imap = await startImapServer({ accounts, listen: config.listen, log, version: VERSION });
  } catch (err) {
    await store.close();
    throw err;
  }
  log.info({ listen: imap.address, upstream: config.upstream.url, data: config.data, version: VERSION }, 'imap-cache-proxy started');
  let closing: Promise<void> | undefined;
  return {
    address: imap.address,
    close: () =>
      (closing ??= (async () => {
        await imap.close();
        await accounts.close();
        await store.close();
        log.info('imap-cache-proxy stopped');
      })()),
  };
}
