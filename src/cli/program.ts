// The command line: `start` and the admin commands.
import { Command, Option } from 'commander';
import type { AccountLoginFlags } from './account-login.js';
import { addAdminCommands } from './admin-commands.js';
import { START_SETTINGS, envName } from '../config/options.js';
import { VERSION } from '../version.js';

const program = new Command()
  .name('imap-cache-proxy')
  .description('A local IMAP caching proxy: point your mail client at it, it keeps your mail in a local cache.')
  .version(VERSION);

const start = program
  .command('start')
  .description('run the proxy in the foreground (stops cleanly on SIGTERM / SIGINT)')
  .addOption(new Option('--config <FILE>', 'TOML config file with any of the settings below').env('IMAP_CACHE_PROXY_CONFIG'));
for (const spec of START_SETTINGS) {
  // values from the environment are read by the config loader, which also names their source in errors
  start.addOption(new Option(`--${spec.name}${'arg' in spec ? ` <${spec.arg}>` : ''}`, `${spec.description} [env ${envName(spec)}]`));
}
start.action(async (options: Record<string, unknown>) => {
  // the server (imap-core, imapflow, TLS) is loaded for `start` only: admin commands start faster
  const { runStart } = await import('./start-command.js');
  process.exit(await runStart(options));
});

/** Runs a command other than start: its exit code, or its error on stderr and 1. */
async function run(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (err) {
    process.stderr.write(`imap-cache-proxy: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

program
  .command('account')
  .description('OAuth2 accounts (auth = "oauth2" in the config file)')
  .command('login <NAME>')
  .description('sign in to the provider of account NAME and store its tokens, sealed with a local password')
  .addOption(new Option('--config <FILE>', 'the config file with the account').env('IMAP_CACHE_PROXY_CONFIG'))
  .option('--data <DIR>', 'data directory of the proxy (default: as for start)')
  .addOption(new Option('--browser', 'sign in in a browser on this machine (the default when the provider has no device flow, as Gmail)').conflicts('device'))
  .option('--device', 'sign in with a code, in a browser on any device (the default when the provider has it)')
  .action((name: string, flags: AccountLoginFlags) => run(async () => (await import('./account-login.js')).accountLogin(name, flags)));

addAdminCommands(program, run);

await program.parseAsync(process.argv);
