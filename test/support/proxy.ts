// The proxy under test: in-process (startProxy, port 0) or as the real CLI in a child process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { startConfigSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/main.js';
import { freePort, type Dovecot } from './dovecot.js';
import { tempDir } from './temp-dir.js';

export interface TestProxy {
  host: string;
  port: number;
  /** The implicit-TLS listener's port, with `tlsListen`. */
  tlsPort?: number;
  dataDir: string;
  /** Every log line the proxy wrote, as JSON objects. */
  logs: Record<string, unknown>[];
  /** The raw log output, to check nothing secret is in it. */
  logText(): string;
  close(): Promise<void>;
}

export interface TestProxyOptions {
  dataDir?: string;
  connections?: number;
  logLevel?: string;
  /** Upstream URL; default imap:// to the Dovecot's plain port. */
  upstreamUrl?: string;
  upstreamCa?: string;
  upstreamInsecure?: boolean;
  /** Also listen for implicit TLS on a free loopback port. */
  tlsListen?: boolean;
  /** Default: certs/ in the data directory, generated on first start. */
  tlsCert?: string;
  tlsKey?: string;
  /** The background sync (default off: tests drive what is fetched). */
  prefetch?: 'off' | 'headers' | 'all';
  /** The background sync's daily download budget, as the setting takes it (e.g. '200K'). */
  prefetchBudget?: string;
  /** COMPRESS=DEFLATE for clients (default auto: off on loopback). */
  compress?: 'auto' | 'on' | 'off';
  /** Without NOTIFY upstream: how often cached folders no client has open are polled, e.g. '1s'. */
  pollInterval?: string;
  /** Client limits as the settings take them, e.g. { maxConnections: '3', loginTimeout: '1s' }. */
  limits?: Partial<Record<'maxLineLength' | 'maxMessageSize' | 'maxConnections' | 'maxConnectionsPerIp' | 'idleTimeout' | 'loginTimeout', string>>;
}

/** [[account]] tables as the config file has them, e.g. { name: 'bob', upstream: 'imap://…', 'upstream-user': 'robert' }. */
export type AccountTables = { accounts: Record<string, string | boolean>[] };

/**
 * Starts the proxy in this process against a Dovecot (any login name passed through, as with
 * --upstream), or with configured accounts; stopped after the test file.
 */
export async function startTestProxy(upstream: Dovecot | AccountTables, opts: TestProxyOptions = {}): Promise<TestProxy> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'imapcp-proxy-')));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // the proxy's own logger (with its redaction), writing into the sink
  const log = createLogger({ level: opts.logLevel ?? 'debug', destination: sink });
  const config = startConfigSchema.parse({
    ...('accounts' in upstream
      ? { accounts: upstream.accounts }
      : { upstream: opts.upstreamUrl ?? `imap://${upstream.host}:${upstream.port}`, upstreamCa: opts.upstreamCa, upstreamInsecure: opts.upstreamInsecure }),
    listen: '127.0.0.1:0',
    tlsListen: opts.tlsListen ? '127.0.0.1:0' : undefined,
    tlsCert: opts.tlsCert ?? path.join(dataDir, 'certs', 'cert.pem'),
    tlsKey: opts.tlsKey ?? path.join(dataDir, 'certs', 'key.pem'),
    data: dataDir,
    prefetch: opts.prefetch ?? 'off',
    prefetchBudget: opts.prefetchBudget,
    upstreamConnections: opts.connections ?? 4,
    compress: opts.compress,
    logLevel: opts.logLevel ?? 'debug',
    pollInterval: opts.pollInterval,
    ...opts.limits,
  });
  let running: RunningProxy | undefined = await startProxy(config, log);
  const proxy: TestProxy = {
    host: running.address.host,
    port: running.address.port,
    tlsPort: running.tlsAddress?.port,
    dataDir,
    logs: [],
    logText: () => lines.join('\n'),
    close: async () => {
      const r = running;
      running = undefined;
      await r?.close();
    },
  };
  Object.defineProperty(proxy, 'logs', { get: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) });
  after(async () => {
    await proxy.close();
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return proxy;
}

export interface SpawnedProxy {
  port: number;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The installed command, as users run it (package.json "bin"). */
export const CLI = path.resolve(import.meta.dirname, '../../../bin/imap-cache-proxy');

/** Runs the CLI (an admin command) to its end: its exit code and output, also when it fails. */
export async function runCli(args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(CLI, args, { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * Runs the real CLI (`imap-cache-proxy start ...`) and waits until it listens. Its TLS
 * certificate goes to a temp dir of its own unless `env` or `args` say.
 */
export async function spawnProxy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<SpawnedProxy> {
  const port = await freePort();
  const certDir = await tempDir('imapcp-certs-');
  const certEnv = { IMAP_CACHE_PROXY_TLS_CERT: path.join(certDir, 'cert.pem'), IMAP_CACHE_PROXY_TLS_KEY: path.join(certDir, 'key.pem') };
  // run as installed: it sets up the allocator and V8 options that memory figures depend on
  const child = spawn(CLI, ['start', '--listen', `127.0.0.1:${port}`, ...args], {
    env: { ...process.env, ...certEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${output}`)), 15_000);
    const check = () => {
      if (output.includes('imap-cache-proxy started')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code}:\n${output}`));
    });
  });
  const spawned: SpawnedProxy = {
    port,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
  after(() => spawned.stop('SIGKILL'));
  return spawned;
}

/**
 * An imapflow client logged in through the proxy (or any server), in plain IMAP like a client set
 * up with "connection security: none": imapflow would otherwise take the proxy's STARTTLS and
 * refuse its self-signed certificate (TLS is tested in tls.test).
 */
export async function connectClient(port: number, user = 'test', pass = 'pass', options: { qresync?: boolean } = {}): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass }, logger: false, disableAutoIdle: true, ...options });
  await client.connect();
  return client;
}
