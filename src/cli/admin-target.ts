import { join } from 'node:path';
import { pino } from 'pino';
import { adminRequest } from '../admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type AdminRequest } from '../admin/protocol.js';
import { CacheStore } from '../cache/cache-store.js';
import { defaultDataDir } from '../config/load.js';
import { ENV_PREFIX } from '../config/options.js';
import { isProxyError, ProxyError } from '../model/errors.js';

/** The data directory an admin command works on: --data, else the environment, else the default. */
export function dataDirOf(flags: { data?: string }): string {
  return flags.data ?? (process.env[`${ENV_PREFIX}DATA`] || defaultDataDir());
}

type RequestBody = AdminRequest extends infer R ? (R extends AdminRequest ? Omit<R, 'v'> : never) : never;

/**
 * Runs an admin command on the running proxy through its socket, or, when none runs, with
 * `offline` on the cache opened directly. Both give the same answer.
 */
export async function runAdmin<T>(
  dataDir: string,
  body: RequestBody,
  offline: (store: CacheStore) => Promise<T>,
  timeoutMs?: number,
): Promise<T> {
  const response = await adminRequest<T>(join(dataDir, ADMIN_SOCKET_NAME), body, timeoutMs);
  if (response) {
    if (!response.ok) throw new ProxyError('INTERNAL', `the proxy refused: ${response.error.message}`);
    return response.result;
  }
  let store: CacheStore;
  try {
    store = await CacheStore.open(join(dataDir, 'cache'), pino({ level: 'silent' }), { create: false });
  } catch (err) {
    if (isProxyError(err, 'CACHE_FAILURE') && /another imap-cache-proxy/.test(err.message)) {
      throw new ProxyError('CACHE_FAILURE', `a proxy holds ${dataDir}, but its admin socket does not answer`, { cause: err });
    }
    throw err;
  }
  try {
    return await offline(store);
  } finally {
    await store.close();
  }
}
