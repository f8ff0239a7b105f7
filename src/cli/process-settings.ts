/**
 * Memory is bounded by design, down to the allocators; these settings can only be made before
 * the process starts, so the CLI makes them itself: started in any other way (`node main.js`,
 * a container, a process manager), it replaces itself at once with a process that has them
 * (process.execve: same PID, same streams).
 *
 * - glibc keeps freed blocks below its dynamic mmap threshold in per-thread arenas (LevelDB and
 *   libuv threads free MB-sized buffers all the time), so blocks of 1 MB and more are mmap'ed and
 *   given back at once, from one arena (a second one cost 6-8 MB more at the peak of a background
 *   sync on Node.js 22 and 26, and no time), and the heap is trimmed once 8 MB at its top are
 *   free. Body chunks (256 KB) stay below that threshold: mmap'ing each of them cost a page fault
 *   per 4 KB, which doubled the CPU time of a LevelDB write and made a read six times slower.
 * - V8 gets a 4 MB young generation instead of 16 MB (the proxy's objects die young). With the
 *   allocator settings, about 50 MB less RssAnon.
 * - --expose-gc lets the proxy pace collections of spent body Buffers itself
 *   (src/cache/gc-pacer.ts): young ones every 4 MB of body bytes, full ones every 24 MB written.
 *   V8 counts Buffer memory against the old generation's allowance, which by default grows by
 *   only about half the live heap (20 MB) after a full collection; --heap-growing-percent=100
 *   lets it double, so that Buffers still in flight at a young collection do not start a full
 *   one every few MB.
 */
export const PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '1048576',
  MALLOC_TRIM_THRESHOLD_: '8388608',
};
export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=100', '--expose-gc'];

/** Set in the replacing process: it never replaces itself again, whatever it finds. */
const REPLACED = 'IMAP_CACHE_PROXY_PROCESS_SET';

/**
 * Started with a profiler (--cpu-prof, --heap-prof, --prof), the process keeps its settings as
 * they are: the profiler's sampling signal, pending when execve runs, would reach the new process
 * before it has a handler for it and kill it.
 */
function profiled(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => /--(cpu-prof|heap-prof|prof)\b/.test(arg));
}

/**
 * For `start`: replaces this process with one that has the settings, unless it has them. Other
 * commands run briefly and as they are.
 */
export function applyProcessSettings(): void {
  const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
  // (execve is there on every supported Node.js, but for Windows, where the allocator settings do not apply)
  if (command !== 'start' || process.env[REPLACED] || !process.execve || profiled()) return;
  const missingFlags = V8_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  const envSet = Object.entries(PROCESS_ENV).every(([name, value]) => process.env[name] === value);
  if (missingFlags.length === 0 && envSet) return;
  const script = process.argv[1] as string;
  process.execve(process.execPath, [process.execPath, ...missingFlags, ...process.execArgv, script, ...process.argv.slice(2)], {
    ...process.env,
    ...PROCESS_ENV,
    [REPLACED]: '1',
  });
}
