import { join } from 'node:path';
import { adminRequest } from '../admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type AdminRequest } from '../admin/protocol.js';
import type { CacheStore } from '../cache/cache-store.js';
import { resolveDataDir } from '../config/config-file.js';
import { isProxyError, ProxyError } from '../model/errors.js';

/** Where an admin command looks for the proxy, and how that was decided. */
export interface AdminTarget {
  dir: string;
  from: string;
}

/** The flags every admin command takes to say where the proxy is. */
export interface TargetFlags {
  data?: string;
  config?: string;
}

/** The data directory an admin command works on, found as `start` finds it. */
export function adminTarget(flags: TargetFlags): Promise<AdminTarget> {
  return resolveDataDir({ flags, env: process.env });
}

/** The fix when nothing is found at the target. */
export const OTHER_DIR_HINT = 'if yours runs with another data directory, give it as --data DIR, or its config file as --config FILE';

function notFoundHint(target: AdminTarget): string {
  return `no proxy answers and there is no cache in ${target.dir} (${target.from}); ${OTHER_DIR_HINT}`;
}

type RequestBody = AdminRequest extends infer R ? (R extends AdminRequest ? Omit<R, 'v'> : never) : never;

/**
 * Runs an admin command on the running proxy through its socket, or, when none runs, with
 * `offline` on the cache opened directly. Both give the same answer.
 */
export async function runAdmin<T>(
  target: AdminTarget,
  body: RequestBody,
  offline: (store: CacheStore) => Promise<T>,
  timeoutMs?: number,
): Promise<T> {
  const dataDir = target.dir;
  const response = await adminRequest<T>(join(dataDir, ADMIN_SOCKET_NAME), body, timeoutMs);
  if (response) {
    if (!response.ok) throw new ProxyError('INTERNAL', `the proxy refused: ${response.error.message}`);
    return response.result;
  }
  // LevelDB and the logger are loaded only when no proxy answers
  const [{ CacheStore: Store }, { pino }] = await Promise.all([import('../cache/cache-store.js'), import('pino')]);
  let store: CacheStore;
  try {
    store = await Store.open(join(dataDir, 'cache'), pino({ level: 'silent' }), { create: false });
  } catch (err) {
    if (isProxyError(err, 'CACHE_FAILURE') && /another imap-cache-proxy/.test(err.message)) {
      throw new ProxyError('CACHE_FAILURE', `a proxy holds ${dataDir}, but its admin socket does not answer`, { cause: err });
    }
    if (isProxyError(err, 'CACHE_FAILURE') && /there is no cache/.test(err.message)) throw new ProxyError('CACHE_FAILURE', notFoundHint(target), { cause: err });
    throw err;
  }
  try {
    return await offline(store);
  } finally {
    await store.close();
  }
}
