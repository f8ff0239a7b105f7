// The background-service files in config/, run the way systemd and launchd run them: the
// command line of the unit / plist with the user's home and the example config filled in; the
// proxy serves, reloads its config on SIGHUP and stops cleanly (exit 0, cache closed) on SIGTERM.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadStartConfig } from '../../src/config/load.js';
import { freePort, withDovecot } from '../support/dovecot.js';
import { RawImapClient } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(root, 'bin/imap-cache-proxy');
const example = path.join(root, 'config/imap-cache-proxy.example.toml');
/** The command runs the checkout's own Node.js; installed without it (`npm ci --omit=peer`, CI's
 * run on the oldest line), the node on PATH, which a user's unit then names first on its PATH. */
const NODE_DIR = path.dirname(process.execPath);

const dovecot = await withDovecot();
const children: ChildProcess[] = [];
after(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

/** A home directory with imap-cache-proxy linked into ~/.local/bin as README says, and the example config edited for this test. */
async function home(configPath: string): Promise<{ home: string; port: number; data: string; config: string }> {
  const dir = await tempDir('imapcp-home-');
  const bin = path.join(dir, '.local/bin');
  await mkdir(bin, { recursive: true });
  await symlink(CLI, path.join(bin, 'imap-cache-proxy'));
  const port = await freePort();
  const data = path.join(dir, 'data');
  const config = (await readFile(example, 'utf8'))
    .replace(/^upstream = .*$/m, `upstream = "imap://127.0.0.1:${dovecot.port}"`)
    .replace(/^listen = .*$/m, `listen = "127.0.0.1:${port}"`)
    .replace(/^# data = .*$/m, `data = "${data}"`)
    .replace(/^prefetch = .*$/m, 'prefetch = "off"')
    .replace(/^# tls-cert = .*$/m, `tls-cert = "${path.join(dir, 'cert.pem')}"`)
    .replace(/^# tls-key = .*$/m, `tls-key = "${path.join(dir, 'key.pem')}"`);
  const file = path.join(dir, configPath);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, config);
  return { home: dir, port, data, config: file };
}

/** Starts `argv` as the service manager would, and waits until the proxy listens. */
async function startService(argv: string[], env: NodeJS.ProcessEnv, logFile?: string): Promise<{ child: ChildProcess; output: () => Promise<string> }> {
  const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const read = async () => (logFile ? await readFile(logFile, 'utf8').catch(() => '') : output);
  const deadline = Date.now() + 15_000;
  while (!(await read()).includes('imap-cache-proxy started')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${await read()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, output: read };
}

async function loginWorks(port: number): Promise<void> {
  const c = await RawImapClient.connect(port);
  await c.login();
  assert.match((await c.command('SELECT INBOX')).tagged, /OK/);
  c.close();
}

/**
 * An admin command given the service's config file finds it; SIGHUP reloads, SIGTERM stops with
 * exit code 0 and the cache closed (a stopped-proxy admin command can open it).
 */
async function reloadAndStop(service: { child: ChildProcess; output: () => Promise<string> }, where: { data: string; config: string }): Promise<void> {
  const status = JSON.parse((await run(CLI, ['status', '--config', where.config, '--json'])).stdout) as { running: boolean; pid: number };
  assert.equal(status.running, true);
  // every step replaced the process (sh, the bin's launcher, the CLI's own settings): the service
  // manager's PID is the proxy's, and its signals reach it
  assert.equal(status.pid, service.child.pid);
  service.child.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (!(await service.output()).includes('configuration reloaded')) {
    assert.ok(Date.now() < deadline, `no reload logged:\n${await service.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const exited = new Promise<number | null>((resolve) => service.child.once('exit', (code) => resolve(code)));
  service.child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(await service.output(), /imap-cache-proxy stopped/);
  const stats = await run(CLI, ['cache', 'stats', '--data', where.data, '--json']);
  assert.equal((JSON.parse(stats.stdout) as { accounts: unknown[] }).accounts.length, 1);
}

describe('background service files', () => {
  test('the example config is valid as it is', async () => {
    const config = await loadStartConfig({ flags: { config: example }, env: {} });
    assert.equal(config.listen.host, '127.0.0.1');
  });

  test('the systemd user unit runs the proxy with its config; reload is SIGHUP, stop is a clean SIGTERM', async () => {
    const unit = await readFile(path.join(root, 'config/imap-cache-proxy.service'), 'utf8');
    const setting = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1] as string;
    assert.equal(setting('KillSignal'), 'SIGTERM');
    assert.equal(setting('ExecReload'), '/bin/kill -HUP $MAINPID');
    const where = await home('.config/imap-cache-proxy/config.toml');
    const expand = (value: string) => value.replaceAll('%h', where.home);
    const unitPath = expand(setting('Environment').replace(/^PATH=/, ''));
    const argv = expand(setting('ExecStart')).split(' ');
    const service = await startService(argv, { HOME: where.home, PATH: `${NODE_DIR}:${unitPath}` });
    await loginWorks(where.port);
    await reloadAndStop(service, where);
  });

  test('the launchd plist runs the proxy with its config, logging to ~/Library/Logs', async () => {
    const toJson = 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))';
    const { stdout } = await run('python3', ['-c', toJson, path.join(root, 'config/org.imap-cache-proxy.plist')]);
    const plist = JSON.parse(stdout) as { Label: string; ProgramArguments: string[]; EnvironmentVariables: { PATH: string }; KeepAlive: { SuccessfulExit: boolean }; Umask: number };
    assert.equal(plist.Label, 'org.imap-cache-proxy');
    assert.deepEqual(plist.KeepAlive, { SuccessfulExit: false });
    assert.equal(plist.Umask, 0o077);
    const where = await home('Library/Application Support/imap-cache-proxy/config.toml');
    await mkdir(path.join(where.home, 'Library/Logs'), { recursive: true });
    const env = { HOME: where.home, PATH: `${NODE_DIR}:${plist.EnvironmentVariables.PATH}` };
    const service = await startService(plist.ProgramArguments, env, path.join(where.home, 'Library/Logs/imap-cache-proxy.log'));
    await loginWorks(where.port);
    await reloadAndStop(service, where);
  });
});
