import type { Command } from 'commander';
import { cacheStats, clearCache } from '../admin/cache-admin.js';
import type { ClearResult, StatsResult, StatusResult, VerifyResult } from '../admin/protocol.js';
import { adminRequest } from '../admin/admin-client.js';
import { ADMIN_SOCKET_NAME } from '../admin/protocol.js';
import { dataDirOf, runAdmin } from './admin-target.js';
import { formatStats, formatStatus, formatVerify } from './format.js';
import { join } from 'node:path';

/** `cache verify` found problems and was not asked to repair them. */
const EXIT_PROBLEMS_FOUND = 2;

const dataOption = ['--data <DIR>', 'data directory of the proxy (default: IMAP_CACHE_PROXY_DATA, else the per-user data directory)'] as const;

/** `cache stats`, `cache clear` and `status`: the running proxy answers, else the cache itself. */
export function addAdminCommands(program: Command, run: (action: () => Promise<number>) => Promise<void>): void {
  const cache = program.command('cache').description('look into and clear the cache');
  cache
    .command('stats')
    .description('messages, bodies and bytes cached per account and folder, and when each folder was last synced')
    .option(...dataOption)
    .option('--json', 'print JSON')
    .action((flags: { data?: string; json?: boolean }) =>
      run(async () => {
        const stats = await runAdmin<StatsResult>(dataDirOf(flags), { command: 'stats' }, cacheStats);
        process.stdout.write(flags.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats));
        return 0;
      }),
    );
  cache
    .command('clear')
    .description('drop cached data (all, one account, or one folder); clients stay connected and are served from upstream again')
    .option(...dataOption)
    .option('--account <USER>', 'only this account (user name)')
    .option('--folder <NAME>', 'only this folder (of every account, or of --account)')
    .action((flags: { data?: string; account?: string; folder?: string }) =>
      run(async () => {
        const scope = { ...(flags.account ? { account: flags.account } : {}), ...(flags.folder ? { folder: flags.folder } : {}) };
        const result = await runAdmin<ClearResult>(dataDirOf(flags), { command: 'clear', scope }, async (store) => {
          const { result } = await clearCache(store, scope);
          await store.garbageCollected(); // no proxy runs to finish the deletion later
          return result;
        });
        process.stdout.write(`cleared ${result.folders} folder(s) of ${result.accounts} account(s)\n`);
        return 0;
      }),
    );
  cache
    .command('verify')
    .description("check every cached body's length against its RFC822.SIZE and that all its bytes are there; find unreferenced data")
    .option(...dataOption)
    .option('--repair', 'drop what is wrong (dropped bodies are fetched from upstream again)')
    .option('--json', 'print JSON')
    .action((flags: { data?: string; repair?: boolean; json?: boolean }) =>
      run(async () => {
        const repair = flags.repair === true;
        const result = await runAdmin<VerifyResult>(
          dataDirOf(flags),
          { command: 'verify', repair },
          async (store) => {
            const result = await store.verify(repair);
            await store.garbageCollected(); // no proxy runs to finish dropping stray generations later
            return result;
          },
          0,
        );
        process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatVerify(result));
        const clean = result.problemCount === 0 && result.orphanChunks === 0 && result.strayGenerations === 0;
        return clean || repair ? 0 : EXIT_PROBLEMS_FOUND;
      }),
    );
  program
    .command('status')
    .description('version, uptime, upstream connections, clients, background sync progress and memory of the running proxy')
    .option(...dataOption)
    .option('--json', 'print JSON')
    .action((flags: { data?: string; json?: boolean }) =>
      run(async () => {
        const response = await adminRequest<StatusResult>(join(dataDirOf(flags), ADMIN_SOCKET_NAME), { command: 'status' });
        if (!response) {
          process.stdout.write(flags.json ? `${JSON.stringify({ running: false })}\n` : 'imap-cache-proxy is not running\n');
          return 3;
        }
        if (!response.ok) throw new Error(response.error.message);
        process.stdout.write(flags.json ? `${JSON.stringify({ running: true, ...response.result }, null, 2)}\n` : formatStatus(response.result));
        return 0;
      }),
    );
}
