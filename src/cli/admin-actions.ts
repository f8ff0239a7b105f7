// What the admin commands do (admin-commands.ts declares them and loads this on use).
import { join } from 'node:path';
import { adminRequest } from '../admin/admin-client.js';
import { cacheStats, clearCache } from '../admin/cache-admin.js';
import { ADMIN_SOCKET_NAME, type ClearResult, type StatsResult, type StatusResult, type VerifyResult } from '../admin/protocol.js';
import { adminTarget, OTHER_DIR_HINT, runAdmin, type TargetFlags } from './admin-target.js';
import { formatStats, formatStatus, formatVerify } from './format.js';

/** `cache verify` found problems and was not asked to repair them. */
const EXIT_PROBLEMS_FOUND = 2;
/** `status`: no proxy answers at the data directory. */
const EXIT_NOT_RUNNING = 3;

export async function stats(flags: TargetFlags & { account?: string; json?: boolean }): Promise<number> {
  const account = flags.account ? { account: flags.account } : {};
  const stats = await runAdmin<StatsResult>(await adminTarget(flags), { command: 'stats', ...account }, (store) => cacheStats(store, flags.account));
  process.stdout.write(flags.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats));
  return 0;
}

export async function clear(flags: TargetFlags & { account?: string; folder?: string }): Promise<number> {
  const scope = { ...(flags.account ? { account: flags.account } : {}), ...(flags.folder ? { folder: flags.folder } : {}) };
  const result = await runAdmin<ClearResult>(await adminTarget(flags), { command: 'clear', scope }, async (store) => {
    const { result } = await clearCache(store, scope);
    await store.garbageCollected(); // no proxy runs to finish the deletion later
    return result;
  });
  process.stdout.write(`cleared ${result.folders} folder(s) of ${result.accounts} account(s)\n`);
  return 0;
}

export async function verify(flags: TargetFlags & { repair?: boolean; json?: boolean }): Promise<number> {
  const repair = flags.repair === true;
  const result = await runAdmin<VerifyResult>(
    await adminTarget(flags),
    { command: 'verify', repair },
    async (store) => {
      const result = await store.verify(repair);
      await store.garbageCollected(); // no proxy runs to finish dropping stray generations later
      return result;
    },
    0,
  );
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatVerify(result));
  const clean = result.problemCount === 0 && result.orphanChunks === 0 && result.strayGenerations === 0 && result.wrongRefCounts === 0;
  return clean || repair ? 0 : EXIT_PROBLEMS_FOUND;
}

export async function status(flags: TargetFlags & { json?: boolean }): Promise<number> {
  const target = await adminTarget(flags);
  const response = await adminRequest<StatusResult>(join(target.dir, ADMIN_SOCKET_NAME), { command: 'status' });
  if (!response) {
    const text = `imap-cache-proxy is not running with the data directory ${target.dir} (${target.from}); ${OTHER_DIR_HINT}`;
    process.stdout.write(flags.json ? `${JSON.stringify({ running: false, data: target.dir })}\n` : `${text}\n`);
    return EXIT_NOT_RUNNING;
  }
  if (!response.ok) throw new Error(response.error.message);
  process.stdout.write(flags.json ? `${JSON.stringify({ running: true, ...response.result }, null, 2)}\n` : formatStatus(response.result));
  return 0;
}
