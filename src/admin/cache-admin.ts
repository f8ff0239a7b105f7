import type { CacheStore } from '../cache/cache-store.js';
import type { AccountId, FolderPath } from '../model/types.js';
import { normalizePath } from '../sync/account.js';
import type { AccountStats, ClearResult, ClearScope, StatsResult, Usage } from './protocol.js';

/*
 * The cache commands, on a CacheStore: the running proxy's own or, when no proxy runs, one the
 * CLI opens itself. Both give the same answers.
 */

const add = (a: Usage, b: Usage): Usage => ({ messages: a.messages + b.messages, bodies: a.bodies + b.bodies, bytes: a.bytes + b.bytes });
const ZERO: Usage = { messages: 0, bodies: 0, bytes: 0 };

export async function cacheStats(store: CacheStore): Promise<StatsResult> {
  const accounts: AccountStats[] = [];
  for (const { id, record } of await store.listAccounts()) {
    const folders = [];
    for (const { path, record: folder } of await store.listFolders(id)) {
      const usage = await store.folderUsage(folder.fid);
      folders.push({ folder: path, ...usage, lastSync: folder.lastSync ? new Date(folder.lastSync).toISOString() : null });
    }
    accounts.push({ user: record.user, upstream: record.upstream, folders, totals: folders.reduce(add, ZERO) });
  }
  return { accounts, totals: accounts.map((a) => a.totals).reduce(add, ZERO) };
}

/** What a scope selects: per account, the folders to drop and whether it is the whole account. */
export async function clearCache(
  store: CacheStore,
  scope: ClearScope,
): Promise<{ result: ClearResult; cleared: { account: AccountId; folders: FolderPath[] }[] }> {
  const cleared: { account: AccountId; folders: FolderPath[] }[] = [];
  for (const { id, record } of await store.listAccounts()) {
    if (scope.account !== undefined && record.user !== scope.account) continue;
    const wanted = scope.folder === undefined ? undefined : normalizePath(scope.folder);
    const folders = (await store.listFolders(id)).filter((f) => wanted === undefined || f.path === wanted);
    await store.clearFolders(id, folders, scope.folder === undefined);
    cleared.push({ account: id, folders: folders.map((f) => f.path) });
  }
  return { result: { accounts: cleared.length, folders: cleared.reduce((sum, c) => sum + c.folders.length, 0) }, cleared };
}
