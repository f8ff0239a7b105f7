import type { Command } from 'commander';

type Actions = typeof import('./admin-actions.js');

const dataOption = ['--data <DIR>', 'data directory of the proxy (default: IMAP_CACHE_PROXY_DATA, else "data" in the config file, else the per-user data directory)'] as const;
const accountOption = ['--account <NAME>', 'only this account (the name clients log in with)'] as const;
const configOption = ['--config <FILE>', 'the config file the proxy runs with: its "data" setting says where to look (default: IMAP_CACHE_PROXY_CONFIG)'] as const;

/**
 * `cache stats|clear|verify` and `status`: the running proxy answers, else the cache itself.
 * What they do is loaded when one runs (admin-actions.ts), so that `--help` and `--version` load
 * none of it.
 */
export function addAdminCommands(program: Command, run: (action: () => Promise<number>) => Promise<void>): void {
  const act =
    <K extends keyof Actions>(name: K) =>
    (flags: Parameters<Actions[K]>[0]) =>
      run(async () => ((await import('./admin-actions.js'))[name] as (flags: Parameters<Actions[K]>[0]) => Promise<number>)(flags));
  const cache = program.command('cache').description('look into and clear the cache');
  cache
    .command('stats')
    .description('bodies and bytes cached against all there are, per account and folder, and when each folder was last synced')
    .option(...dataOption)
    .option(...configOption)
    .option(...accountOption)
    .option('--json', 'print JSON')
    .action(act('stats'));
  cache
    .command('clear')
    .description('drop cached data (all, one account, or one folder); clients stay connected and are served from upstream again')
    .option(...dataOption)
    .option(...configOption)
    .option(...accountOption)
    .option('--folder <NAME>', 'only this folder (of every account, or of --account)')
    .action(act('clear'));
  cache
    .command('verify')
    .description("check every cached body's length against its RFC822.SIZE and that all its bytes are there; find unreferenced data")
    .option(...dataOption)
    .option(...configOption)
    .option('--repair', 'drop what is wrong (dropped bodies are fetched from upstream again)')
    .option('--json', 'print JSON')
    .action(act('verify'));
  program
    .command('status')
    .description('version, uptime, connections, memory, and per account (every configured one) what is cached and the background sync, of the running proxy')
    .option(...dataOption)
    .option(...configOption)
    .option('--json', 'print JSON')
    .action(act('status'));
}
