// Loaded into the proxy by the bench's startup scenario (NODE_OPTIONS=--import): counts the
// modules the process loads, ES modules and CommonJS alike, and on SIGUSR2 prints them with the
// V8 heap in use after a full collection, as one line starting with PROBE_PREFIX.
import { registerHooks } from 'node:module';

export const PROBE_PREFIX = 'startup-probe ';

const loaded = new Set<string>();
registerHooks({
  load(url, context, nextLoad) {
    if (!url.startsWith('node:')) loaded.add(url);
    return nextLoad(url, context);
  },
});

process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const packages = new Set([...loaded].flatMap((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
  const report = { modules: loaded.size, packages: packages.size, heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20 };
  process.stderr.write(`${PROBE_PREFIX}${JSON.stringify(report)}\n`);
});
