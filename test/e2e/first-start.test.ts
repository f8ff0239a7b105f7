// README's own set-up, as a new user runs it: a copy of the checkout as git would clone it,
// README's install line, then its start line (this test's Dovecot as the upstream), an admin
// command while the proxy runs, and a stop. After the install nothing under the package's folder
// may change, and the proxy's own steps take no longer than README says.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort, withDovecot } from '../support/dovecot.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../..');

/** What README promises (section "Two commands"): the bounds this test holds the proxy to. */
const LISTENING_WITHIN_MS = 2000;
const ADMIN_ANSWER_WITHIN_MS = 1000;
const STOPPED_WITHIN_MS = 2000;
/** npm's part: no promise of the proxy's, only a bound that catches a rebuild or a hang. */
const INSTALL_WITHIN_MS = 180_000;

/** The two commands of README's "Two commands" section, as written there. */
async function readmeCommands(): Promise<{ install: string; start: string; admin: string }> {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Two commands'));
  const first = /```sh\n(.+)\n```/.exec(section)?.[1] ?? '';
  const [install, start] = first.split(' && ');
  const admin = /```sh\n(.+ status)\n```/.exec(readme.slice(readme.indexOf('## Admin commands')))?.[1];
  assert.ok(install && start && admin, `README's install, start and status lines: ${first} / ${admin}`);
  return { install, start, admin };
}

/** Every file of the tree with its size and modification time. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const s = await stat(file).catch(() => undefined);
    files.set(path.relative(dir, file), s ? `${s.size} ${s.mtimeMs}` : 'dangling');
  }
  return files;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true))).once('error', () => resolve(false));
  });
}

test('README word for word: install, start, an admin command while it runs, stop; nothing in the package changes', async () => {
  const commands = await readmeCommands();
  const dovecot = await withDovecot();
  const work = await tempDir('imapcp-first-start-');
  const pkg = path.join(work, 'imap-cache-proxy');
  // the checkout as a clone would have it: tracked files, and new ones not ignored
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 16 * 2 ** 20 });
  for (const file of stdout.split('\0').filter(Boolean)) {
    await mkdir(path.dirname(path.join(pkg, file)), { recursive: true });
    await copyFile(path.join(root, file), path.join(pkg, file));
  }
  // a user of their own: the default data directory in this test's home for it, the default port
  // replaced by a free one (through the environment: the command line stays README's)
  const port = await freePort();
  const env = {
    ...process.env,
    XDG_DATA_HOME: path.join(work, 'data-home'),
    IMAP_CACHE_PROXY_LISTEN: `127.0.0.1:${port}`,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  const sh = (command: string) => run('sh', ['-c', command], { cwd: pkg, env, maxBuffer: 64 * 2 ** 20 });

  let started = performance.now();
  await sh(commands.install);
  const installMs = performance.now() - started;
  assert.ok(installMs < INSTALL_WITHIN_MS, `install took ${installMs} ms`);
  const installed = await snapshot(pkg);

  const start = commands.start.replace(/--upstream \S+/, `--upstream imap://127.0.0.1:${dovecot.port}`);
  started = performance.now();
  // exec: the signal reaches the proxy, not the shell
  const proxy = spawn('sh', ['-c', `exec ${start}`], { cwd: pkg, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proxy.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proxy.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => proxy.once('exit', (code) => resolve(code)));
  after(() => proxy.exitCode === null && proxy.kill('SIGKILL'));
  while (!(await listening(port))) {
    assert.equal(proxy.exitCode, null, `the proxy exited:\n${output}`);
    await sleep(5);
  }
  const listenMs = performance.now() - started;

  started = performance.now();
  const status = await sh(commands.admin);
  const adminMs = performance.now() - started;
  assert.match(status.stdout, /listening on 127\.0\.0\.1:\d+/, 'the admin command found the proxy in its default data directory');

  started = performance.now();
  proxy.kill('SIGTERM');
  assert.equal(await exited, 0, output);
  const stopMs = performance.now() - started;

  const stopped = await snapshot(pkg);
  const changed = [...new Set([...installed.keys(), ...stopped.keys()])].filter((file) => installed.get(file) !== stopped.get(file));
  assert.deepEqual(changed, [], 'files under the package added, changed or removed after the install');
  const report = `install ${Math.round(installMs)} ms, listening after ${Math.round(listenMs)} ms, admin ${Math.round(adminMs)} ms, stopped in ${Math.round(stopMs)} ms`;
  assert.ok(listenMs < LISTENING_WITHIN_MS, report);
  assert.ok(adminMs < ADMIN_ANSWER_WITHIN_MS, report);
  assert.ok(stopMs < STOPPED_WITHIN_MS, report);
  process.stdout.write(`# ${report}\n`);
});
