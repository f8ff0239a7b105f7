import type { AccountRecord, CacheStore } from '../cache/cache-store.js';
import type { AccountId, FolderPath } from '../model/types.js';
import { ProxyError } from '../model/errors.js';
import { normalizePath } from '../model/folder-path.js';
import type { AccountStats, ClearResult, ClearScope, Sharing, StatsResult, Usage } from './protocol.js';

/*
 * The cache commands, on a CacheStore: the running proxy's own or, when no proxy runs, one the
 * CLI opens itself. Both give the same answers.
 */

const ZERO: Usage = { messages: 0, bodies: 0, bodyBytes: 0, totalBytes: 0, otherBytes: 0 };
const add = (a: Usage, b: Usage): Usage => ({
  messages: a.messages + b.messages,
  bodies: a.bodies + b.bodies,
  bodyBytes: a.bodyBytes + b.bodyBytes,
  totalBytes: a.totalBytes + b.totalBytes,
  otherBytes: a.otherBytes + b.otherBytes,
});

const NO_SHARING: Sharing = { contents: 0, storedBytes: 0, referencedBytes: 0, savedBytes: 0 };
const addSharing = (a: Sharing, b: Sharing): Sharing => ({
  contents: a.contents + b.contents,
  storedBytes: a.storedBytes + b.storedBytes,
  referencedBytes: a.referencedBytes + b.referencedBytes,
  savedBytes: a.savedBytes + b.savedBytes,
});

/** The name clients log in with; records written before accounts existed have the user name. */
const nameOf = (record: AccountRecord) => record.name ?? record.user;

/** The cached accounts, or the one of this name: a name none has is an error that lists those there are. */
async function cachedAccounts(store: CacheStore, name: string | undefined): Promise<{ id: AccountId; record: AccountRecord }[]> {
  const all = await store.listAccounts();
  if (name === undefined) return all;
  const selected = all.filter(({ record }) => nameOf(record) === name);
  if (selected.length === 0) {
    const names = all.map(({ record }) => `"${nameOf(record)}"`).join(', ') || 'none';
    throw new ProxyError('NONEXISTENT', `no account named "${name}" in the cache (cached accounts: ${names})`);
  }
  return selected;
}

export async function cacheStats(store: CacheStore, account?: string): Promise<StatsResult> {
  const accounts: AccountStats[] = [];
  for (const { id, record } of await cachedAccounts(store, account)) accounts.push(await accountStats(store, id, record));
  return { accounts, totals: accounts.map((a) => a.totals).reduce(add, ZERO), sharing: accounts.map((a) => a.sharing).reduce(addSharing, NO_SHARING) };
}

/** One account's folders and totals (also what `status` shows of its cache). */
export async function accountStats(store: CacheStore, id: AccountId, record: AccountRecord): Promise<AccountStats> {
  const folders = [];
  for (const { path, record: folder } of await store.listFolders(id)) {
    const usage = await store.folderUsage(folder.fid);
    folders.push({ folder: path, ...usage, lastSync: folder.lastSync ? new Date(folder.lastSync).toISOString() : null });
  }
  return { name: nameOf(record), user: record.user, upstream: record.upstream, folders, totals: folders.reduce(add, ZERO), sharing: await store.sharing(id) };
}

/** What a scope selects: per account, the folders to drop and whether it is the whole account. */
export async function clearCache(
  store: CacheStore,
  scope: ClearScope,
): Promise<{ result: ClearResult; cleared: { account: AccountId; folders: FolderPath[] }[] }> {
  const cleared: { account: AccountId; folders: FolderPath[] }[] = [];
  for (const { id } of await cachedAccounts(store, scope.account)) {
    const wanted = scope.folder === undefined ? undefined : normalizePath(scope.folder);
    const folders = (await store.listFolders(id)).filter((f) => wanted === undefined || f.path === wanted);
    await store.clearFolders(id, folders, scope.folder === undefined);
    cleared.push({ account: id, folders: folders.map((f) => f.path) });
  }
  return { result: { accounts: cleared.length, folders: cleared.reduce((sum, c) => sum + c.folders.length, 0) }, cleared };
}
