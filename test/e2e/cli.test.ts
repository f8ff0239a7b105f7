// The command line: flags, config file and environment, clear errors, clean shutdown on signals.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PROCESS_ENV, V8_FLAGS } from '../../src/cli/process-settings.js';
import { freePort, withDovecot } from '../support/dovecot.js';
import { CLI, spawnProxy } from '../support/proxy.js';
import { RawImapClient } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);

/** Runs the CLI to completion; returns exit code and output. A TLS certificate goes to the temp dir. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const certEnv = { IMAP_CACHE_PROXY_TLS_CERT: path.join(tmp, 'cert.pem'), IMAP_CACHE_PROXY_TLS_KEY: path.join(tmp, 'key.pem') };
  try {
    const { stdout, stderr } = await run(CLI, args, { env: { ...process.env, ...certEnv, ...env }, timeout: 20_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const dovecot = await withDovecot();
const upstream = `imap://127.0.0.1:${dovecot.port}`;
const tmp = await tempDir('imapcp-cli-');

async function canLogin(port: number): Promise<boolean> {
  const client = await RawImapClient.connect(port);
  try {
    return /OK/.test((await client.command('LOGIN test pass')).tagged);
  } finally {
    client.close();
  }
}

describe('imap-cache-proxy CLI', () => {
  test('--help describes the commands and every start flag', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.output, /start/);
    const start = await cli(['start', '--help']);
    assert.equal(start.code, 0);
    const flags = ['--upstream', '--listen', '--data', '--config', '--prefetch', '--upstream-connections', '--log-level'];
    flags.push('--tls-listen <HOST:PORT>', '--tls-cert <FILE>', '--tls-key <FILE>', '--upstream-ca <FILE>', '--upstream-insecure ');
    for (const flag of flags) {
      assert.ok(start.output.includes(flag), `start --help mentions ${flag}`);
    }
  });

  test('bad settings exit with status 2 and say what is wrong and where it came from', async () => {
    const missing = await cli(['start'], { IMAP_CACHE_PROXY_UPSTREAM: '' });
    assert.equal(missing.code, 2);
    assert.match(missing.output, /no upstream server/);
    const scheme = await cli(['start', '--upstream', 'http://x:1']);
    assert.equal(scheme.code, 2);
    assert.match(scheme.output, /--upstream: unsupported scheme/);
    const listen = await cli(['start', '--upstream', upstream, '--listen', 'nowhere']);
    assert.match(listen.output, /--listen: "nowhere" is not HOST:PORT/);
    const env = await cli(['start', '--upstream', upstream], { IMAP_CACHE_PROXY_PREFETCH: 'sometimes' });
    assert.match(env.output, /IMAP_CACHE_PROXY_PREFETCH/);
    const insecure = await cli(['start', '--upstream', upstream], { IMAP_CACHE_PROXY_UPSTREAM_INSECURE: 'perhaps' });
    assert.equal(insecure.code, 2);
    assert.match(insecure.output, /IMAP_CACHE_PROXY_UPSTREAM_INSECURE: "perhaps" is neither true nor false/);
    const file = path.join(tmp, 'bad.toml');
    await writeFile(file, 'upstream = "imap://127.0.0.1:1"\ncolour = "blue"\n');
    const unknown = await cli(['start', '--config', file]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.output, /unknown setting\(s\) colour/);
    const garbled = path.join(tmp, 'garbled.toml');
    await writeFile(garbled, 'upstream = \n');
    assert.match((await cli(['start', '--config', garbled])).output, /not valid TOML/);
  });

  test('settings come from a config file and the environment; flags win', async () => {
    const data = path.join(tmp, 'from-file');
    const file = path.join(tmp, 'proxy.toml');
    await writeFile(file, `upstream = "imap://127.0.0.1:1"\ndata = "${data}"\nprefetch = "off"\nlog-level = "info"\n`);
    // the file's unreachable upstream is overridden by the environment
    const proxy = await spawnProxy(['--config', file], { IMAP_CACHE_PROXY_UPSTREAM: upstream });
    assert.ok(await canLogin(proxy.port));
    assert.ok(existsSync(path.join(data, 'cache')), 'data directory from the config file');
    assert.equal(await proxy.stop('SIGTERM'), 0);
    assert.match(proxy.output(), /imap-cache-proxy stopped/);
  });

  test('the data directory defaults to the per-user data directory', async () => {
    const xdg = path.join(tmp, 'xdg');
    const proxy = await spawnProxy(['--upstream', upstream], { XDG_DATA_HOME: xdg, IMAP_CACHE_PROXY_DATA: '' });
    assert.ok(await canLogin(proxy.port));
    assert.equal(await proxy.stop('SIGINT'), 0);
    assert.ok(existsSync(path.join(xdg, 'imap-cache-proxy', 'cache')));
  });

  test('a second proxy on the same data directory is refused with a clear message', async () => {
    const data = path.join(tmp, 'locked');
    const first = await spawnProxy(['--upstream', upstream, '--data', data]);
    const second = await cli(['start', '--upstream', upstream, '--data', data, '--listen', '127.0.0.1:0']);
    assert.equal(second.code, 1);
    assert.match(second.output, /another imap-cache-proxy is using this data directory/);
    assert.equal(await first.stop(), 0);
  });

  test('started as `node main.js`, the proxy gives itself its allocator and V8 settings, under the same PID', async () => {
    const port = await freePort();
    const main = path.resolve(import.meta.dirname, '../../src/cli/main.js');
    const child = spawn(process.execPath, [main, 'start', '--upstream', upstream, '--data', path.join(tmp, 'plain-node'), '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, MALLOC_ARENA_MAX: '', IMAP_CACHE_PROXY_PROCESS_SET: '' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const pid = child.pid as number;
    for (let i = 0; !(await RawImapClient.connect(port).then((c) => (c.close(), true), () => false)); i++) {
      assert.ok(i < 200, 'the proxy listens');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    for (const flag of V8_FLAGS) assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    for (const [name, value] of Object.entries(PROCESS_ENV)) assert.ok(environ.includes(`${name}=${value}`), `${name}=${value}`);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  test('on a Node.js older than 22.19 it says which it needs and how to get it', async (t) => {
    // Debian's own nodejs package is such a Node.js; without one on this machine there is nothing to run
    const old = '/usr/bin/node';
    const version = existsSync(old) ? (await run(old, ['--version'])).stdout.trim() : '';
    const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
    if (!version || major > 22 || (major === 22 && minor >= 19)) return t.skip(`no Node.js older than 22.19 at ${old}`);
    const result = await run(old, [path.resolve(import.meta.dirname, '../../src/cli/main.js'), '--version']).catch((err: { code: number; stderr: string }) => err);
    assert.equal((result as { code: number }).code, 2);
    assert.match((result as { stderr: string }).stderr, /needs Node\.js 22\.19 or newer.*\nStart it as bin\/imap-cache-proxy/s);
  });
});
