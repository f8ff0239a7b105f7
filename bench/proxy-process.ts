// The proxy as users run it: the CLI in its own process, its anonymous memory sampled over time;
// and the bench's caching relay, run the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROCESS_ENV, V8_FLAGS } from '../src/cli/process-settings.js';
import { freePort } from '../test/support/dovecot.js';

/** The installed command, as users run it. */
export const CLI = path.resolve(import.meta.dirname, '../../bin/imap-cache-proxy');
const RELAY = path.resolve(import.meta.dirname, 'caching-relay.js');

export interface ProxyProcess {
  port: number;
  pid: number;
  /** Highest RssAnon seen since start (or the last resetPeak), in MB. */
  peakRssAnonMb(): number;
  resetPeak(): void;
  /** [seconds since start, RssAnon MB] every sample. */
  timeline: [number, number][];
  /** Seconds since start on the timeline's clock: marks phases on it. */
  elapsed(): number;
  /** Everything the proxy wrote to stdout and stderr so far. */
  output(): string;
  /** Calls `listener` with every complete output line from now on; returns a function that stops it. */
  onLine(listener: (line: string) => void): () => void;
  /** Resolves with the exit code (or the signal) once the process has ended. */
  exited: Promise<number | string | null>;
  stop(): Promise<void>;
}

/** RssAnon in MB: anonymous memory only (LevelDB maps table files, so plain RSS counts page cache too). */
export function rssAnonMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// A bench that dies (an exception, Ctrl-C) leaves no proxy behind.
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((child) => child.kill('SIGKILL')));

/** The CLI's compiled entry point: what containers and service managers start with `node`. */
const MAIN = path.resolve(import.meta.dirname, '../src/cli/main.js');

/**
 * Starts the proxy: through the bin as users run it, or (`launch: 'node'`) as
 * `node dist/src/cli/main.js start ...`, without the settings the bin's process is started with.
 */
export async function startProxyProcess(args: string[], options: { sampleMs?: number; launch?: 'bin' | 'node' } = {}): Promise<ProxyProcess> {
  const port = await freePort();
  const startArgs = ['start', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args];
  if (options.launch === 'node') return startListening(process.execPath, [MAIN, ...startArgs], port, options.sampleMs ?? 100);
  return startListening(CLI, startArgs, port, options.sampleMs ?? 100);
}

/**
 * The bench's caching relay (caching-relay.ts) between clients and upstream, storing into `dir`;
 * run with the allocator settings and V8 options the proxy gives itself, so it pays what the
 * proxy pays for the same bytes.
 */
export async function startCachingRelay(upstreamPort: number, dir: string): Promise<ProxyProcess> {
  const port = await freePort();
  const args = [...V8_FLAGS, RELAY, String(port), String(upstreamPort), dir];
  return startListening(process.execPath, args, port, 100, { ...process.env, ...PROCESS_ENV });
}

/** Starts a server process and resolves once it accepts connections on `port`. */
async function startListening(command: string, args: string[], port: number, sampleMs: number, env = process.env): Promise<ProxyProcess> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  live.add(child);
  let output = '';
  let partial = '';
  const listeners = new Set<(line: string) => void>();
  const collect = (d: Buffer) => {
    const text = d.toString();
    output += text;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) listeners.forEach((listener) => listener(line));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal);
    }),
  );
  // started once it accepts connections
  const { connect } = await import('node:net');
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`${path.basename(command)} ${args.map((arg) => path.basename(arg)).join(' ')} did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid as number;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let peak = 0;
  const timeline: [number, number][] = [];
  const timer = setInterval(() => {
    try {
      const mb = rssAnonMb(pid);
      peak = Math.max(peak, mb);
      timeline.push([elapsed(), mb]);
    } catch {
      // exited
    }
  }, sampleMs);
  return {
    port,
    pid,
    peakRssAnonMb: () => peak,
    resetPeak: () => (peak = 0),
    timeline,
    elapsed,
    output: () => output,
    onLine: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exited,
    stop: async () => {
      clearInterval(timer);
      child.kill('SIGTERM');
      await exited;
    },
  };
}
