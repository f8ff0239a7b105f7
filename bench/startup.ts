// The startup scenario: how long the CLI takes to answer and to listen, what it loads, and the
// memory it starts with. Every figure is the installed bin as users run it (its shebang's options).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/dovecot.js';
import { CLI, rssAnonMb } from './proxy-process.js';
import { PROBE_PREFIX } from './startup-probe.js';
import { log, median, round, run } from './util.js';

const PROBE = path.resolve(import.meta.dirname, 'startup-probe.js');

export interface StartupResults {
  node: string;
  /** `imap-cache-proxy --version`, process start to exit. */
  versionMs: number[];
  /** `start` to a listening port, the first time (a TLS certificate is generated) and later. */
  firstListenMs: number;
  listenMs: number[];
  /** `status` answered by the running proxy. */
  statusMs: number[];
  modules: number;
  packages: number;
  heapUsedMb: number;
  rssAnonMb: number;
}

async function timedMs(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

/** Starts the proxy, resolves once its port accepts connections; `stop` ends it. */
async function startProxy(dir: string, env: NodeJS.ProcessEnv = {}) {
  const port = await freePort();
  const start = performance.now();
  const child = spawn(
    CLI,
    ['start', '--listen', `127.0.0.1:${port}`, '--upstream', 'imap://127.0.0.1:1', '--data', path.join(dir, 'data'),
      '--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem'), '--prefetch', 'off', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`the proxy did not start: ${stderr}`);
    await sleep(5);
  }
  const listenMs = performance.now() - start;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    listenMs,
    pid: child.pid as number,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startupScenario(options: { runs: number; freshDir: () => string }): Promise<StartupResults> {
  log(`\n== startup: the CLI's start, what it loads, its memory at rest`);
  const versionMs: number[] = [];
  for (let i = 0; i < options.runs; i++) versionMs.push(await timedMs(() => run(CLI, ['--version'])));
  const dir = options.freshDir();
  const first = await startProxy(dir);
  await first.stop();
  const listenMs: number[] = [];
  const statusMs: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    const proxy = await startProxy(dir);
    listenMs.push(proxy.listenMs);
    statusMs.push(await timedMs(() => run(CLI, ['status', '--data', path.join(dir, 'data')])));
    await proxy.stop();
  }
  const probed = await startProxy(dir, { NODE_OPTIONS: `--import=${PROBE}` });
  await sleep(1000);
  const rss = rssAnonMb(probed.pid);
  process.kill(probed.pid, 'SIGUSR2');
  let line: string | undefined;
  for (let i = 0; i < 200 && !line; i++) {
    await sleep(10);
    line = probed.stderr().split('\n').find((l) => l.startsWith(PROBE_PREFIX));
  }
  await probed.stop();
  if (!line) throw new Error(`no report from the startup probe: ${probed.stderr()}`);
  const probe = JSON.parse(line.slice(PROBE_PREFIX.length)) as { modules: number; packages: number; heapUsedMb: number };
  const { stdout: node } = await run(process.execPath, ['--version']);
  const results: StartupResults = {
    node: node.trim(),
    versionMs: versionMs.map((x) => round(x, 0)),
    firstListenMs: round(first.listenMs, 0),
    listenMs: listenMs.map((x) => round(x, 0)),
    statusMs: statusMs.map((x) => round(x, 0)),
    modules: probe.modules,
    packages: probe.packages,
    heapUsedMb: round(probe.heapUsedMb, 1),
    rssAnonMb: round(rss, 1),
  };
  log(`  --version ${median(results.versionMs)} ms; listening after ${results.firstListenMs} ms (first start), ${median(results.listenMs)} ms later; status ${median(results.statusMs)} ms`);
  log(`  at rest: ${results.modules} modules from ${results.packages} packages, V8 heap ${results.heapUsedMb} MB, RssAnon ${results.rssAnonMb} MB`);
  return results;
}

export function startupMarkdown(s: StartupResults): string[] {
  return [
    `## Startup (${s.node}, the bin as installed; medians)`,
    '',
    '| `--version` | first start to listening (certificate generated) | later starts | `status` on a running proxy | modules loaded at start (packages) | V8 heap after start | RssAnon after start |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| ${median(s.versionMs)} ms | ${s.firstListenMs} ms | ${median(s.listenMs)} ms | ${median(s.statusMs)} ms | ${s.modules} (${s.packages}) | ${s.heapUsedMb} MB | ${s.rssAnonMb} MB |`,
  ];
}
