// The proxy as users run it: the CLI in its own process, its anonymous memory sampled over time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../test/support/dovecot.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../src/cli/main.js');

export interface ProxyProcess {
  port: number;
  pid: number;
  /** Highest RssAnon seen since start (or the last resetPeak), in MB. */
  peakRssAnonMb(): number;
  resetPeak(): void;
  /** [seconds since start, RssAnon MB] every sample. */
  timeline: [number, number][];
  stop(): Promise<void>;
}

/** RssAnon in MB: anonymous memory only (LevelDB maps table files, so plain RSS counts page cache too). */
export function rssAnonMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

export async function startProxyProcess(args: string[], sampleMs = 100): Promise<ProxyProcess> {
  const port = await freePort();
  // run as installed (its shebang sets the allocator and V8 options the memory figures depend on)
  const child: ChildProcess = spawn(CLI, ['start', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // started once it accepts connections
  const { connect } = await import('node:net');
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`proxy did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid as number;
  const started = performance.now();
  let peak = 0;
  const timeline: [number, number][] = [];
  const timer = setInterval(() => {
    try {
      const mb = rssAnonMb(pid);
      peak = Math.max(peak, mb);
      timeline.push([(performance.now() - started) / 1000, mb]);
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
    stop: async () => {
      clearInterval(timer);
      child.kill('SIGTERM');
      await exited;
    },
  };
}
