#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=8388608 node --max-semi-space-size=4 --heap-growing-percent=100 --expose-gc
// Memory is bounded by design, down to the allocators: glibc keeps freed blocks of its dynamic
// mmap threshold in per-thread arenas (LevelDB and libuv threads free MB-sized buffers all the
// time), so blocks of 1 MB and more are mmap'ed and given back at once, from one arena (a second
// one cost 6-8 MB more at the peak of a background sync on Node.js 22 and 26, and no time), and
// the heap is trimmed once 8 MB at its top are free. Body chunks (256 KB) stay below that threshold:
// mmap'ing each of them cost a page fault per 4 KB, which doubled the CPU time of a LevelDB write
// and made a read six times slower. V8 gets a 4 MB young generation instead of 16 MB (the
// proxy's objects die young). About 50 MB less RssAnon.
// --expose-gc lets the proxy pace collections of spent body Buffers itself (src/cache/gc-pacer.ts):
// young ones every 4 MB of body bytes, full ones every 24 MB written. V8 counts Buffer memory
// against the old generation's allowance, which by default grows by only about half the live heap
// (20 MB) after a full collection; --heap-growing-percent=100 lets it double, so that Buffers
// still in flight at a young collection do not start a full one every few MB.
import './runtime-check.js';
import { Command, Option } from 'commander';
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
  process.exitCode = await runStart(options);
});

addAdminCommands(program, async (action) => {
  try {
    process.exitCode = await action();
  } catch (err) {
    process.stderr.write(`imap-cache-proxy: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
});

await program.parseAsync(process.argv);
