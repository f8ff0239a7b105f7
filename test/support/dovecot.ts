// A throwaway, standalone Dovecot IMAP server for tests: free loopback port,
// all config, state, logs and Maildirs in one temp dir.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DovecotUser { user: string; pass: string }

export interface DovecotOptions {
  users?: DovecotUser[]; // default [{ user: 'test', pass: 'pass' }]
  tls?: boolean; // imaps on a second free port, STARTTLS on the first; self-signed cert
  rawlog?: boolean; // raw session traffic in <dir>/rawlog/
  capabilities?: string; // imap_capability: what Dovecot advertises (e.g. without CONDSTORE)
  compress?: boolean; // COMPRESS=DEFLATE (the imap_zlib plugin)
  // XOAUTH2 and OAUTHBEARER besides PLAIN/LOGIN: tokens checked by introspection (a URL with
  // the introspecting client's id and secret in it); the token's `sub` is the user name
  oauth2?: { introspectionUrl: string };
}

/** One finished IMAP session, from its logout/disconnect log line. */
export interface SessionStats {
  user: string;
  session: string; // Dovecot's session id (matches session=<..> of the login line)
  reason: string; // e.g. "Logged out", "Connection closed (FETCH finished 0.007 secs ago)"
  in: number;
  out: number;
  deleted: number;
  expunged: number;
  hdrCount: number;
  hdrBytes: number;
  bodyCount: number;
  bodyBytes: number;
}

export interface Dovecot {
  host: '127.0.0.1';
  port: number;
  tlsPort?: number;
  certPath?: string;
  rawlogDir?: string;
  dir: string;
  logPath: string;
  /** Maildir++ root of that user (default: the first user). */
  mailDir(user?: string): string;
  /** Stops the master and waits until the port is closed. */
  stop(): Promise<void>;
  /** Starts again after stop(): same port and state. */
  start(): Promise<void>;
  /** stop() + remove the temp dir. */
  destroy(): Promise<void>;
  /** Sessions that have ended so far (open sessions have no log line yet). */
  sessionStats(): Promise<SessionStats[]>;
  /** Sum of body_count over all finished sessions so far. */
  bodyCount(): Promise<number>;
  /**
   * Waits until every session that logged in since the last start has written its logout line
   * (they are logged asynchronously; sessions a stop() killed write none).
   */
  waitSessionsClosed(timeoutMs?: number): Promise<void>;
  /** Runs `doveadm -c <conf> ...args`, returns stdout. */
  doveadm(args: string[]): Promise<string>;
  /** Ends every IMAP session of a user, as a restart would while the server stays up; none open is fine. */
  kick(user?: string): Promise<void>;
  setUidValidity(folder: string, value: number, user?: string): Promise<void>;
  /** Changes a user's password (as if changed with the provider). */
  setPassword(user: string, pass: string): Promise<void>;
}

/** `capabilities` for a Dovecot that announces what Microsoft 365 and Outlook.com do: no CONDSTORE, QRESYNC, NOTIFY, ESEARCH, MULTIAPPEND. */
export const OUTLOOK_CAPABILITIES = 'IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+';

const DEFAULT_USERS: DovecotUser[] = [{ user: 'test', pass: 'pass' }];
// Dovecot refuses mail access as root: mail belongs to this numeric uid/gid (no passwd entry needed).
const MAIL_ID = 5000;
const isRoot = process.getuid?.() === 0;

// Masters still running when the process exits (a crashed test) are stopped here.
const running = new Map<string, () => number | undefined>();
process.once('exit', () => {
  for (const [dir, pid] of running) {
    try { const p = pid(); if (p) process.kill(p, 'SIGTERM'); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startDovecot(opts: DovecotOptions = {}): Promise<Dovecot> {
  await requireDovecot();
  const users = opts.users ?? DEFAULT_USERS;
  if (users.length === 0) throw new Error('startDovecot: at least one user is needed');
  for (const u of users) {
    if (/[:\n/]/.test(u.user) || /[:\n]/.test(u.pass)) throw new Error(`bad user/password ${JSON.stringify(u)}`);
  }

  checkTraversable(os.tmpdir());
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-dovecot-'));
  const uid = isRoot ? MAIL_ID : process.getuid!();
  const gid = isRoot ? MAIL_ID : process.getgid!();
  const confPath = path.join(dir, 'dovecot.conf');
  const logPath = path.join(dir, 'dovecot.log');
  const mailDir = (user = users[0].user) => path.join(dir, 'mail', user);
  const certPath = opts.tls ? path.join(dir, 'cert.pem') : undefined;
  const rawlogDir = opts.rawlog ? path.join(dir, 'rawlog') : undefined;

  async function prepare(): Promise<void> {
    // Dovecot's unprivileged processes must traverse the dir (mkdtemp makes it 0700).
    await chmod(dir, 0o755);
    for (const d of ['run', 'state', 'mail', 'home']) await mkdir(path.join(dir, d), { mode: 0o755 });
    for (const { user } of users) {
      await mkdir(path.join(dir, 'home', user));
      for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(mailDir(user), sub), { recursive: true });
    }
    if (isRoot) await chownTree([path.join(dir, 'mail'), path.join(dir, 'home')], uid, gid);

    await writeUsers();

    if (certPath) {
      await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', path.join(dir, 'key.pem'), '-out', certPath]);
    }
    if (rawlogDir) {
      await mkdir(rawlogDir);
      await chmod(rawlogDir, 0o777); // written by the per-user imap processes
    }
    const group = isRoot ? undefined : (await run('id', ['-gn'])).stdout.trim();
    if (opts.oauth2) {
      await writeFile(path.join(dir, 'oauth2.conf.ext'),
        `introspection_mode = post\nintrospection_url = ${opts.oauth2.introspectionUrl}\nusername_attribute = sub\nactive_attribute = active\nactive_value = true\n`);
    }
    await writeFile(confPath, config({ dir, port, tlsPort, rawlogDir, group, capabilities: opts.capabilities, compress: opts.compress, oauth2: !!opts.oauth2 }));
    await writeFile(logPath, '');
  }

  // passwd-file: Dovecot reads it again when it changes
  async function writeUsers(): Promise<void> {
    await writeFile(path.join(dir, 'users'), users.map((u) =>
      `${u.user}:{PLAIN}${u.pass}:${uid}:${gid}::${path.join(dir, 'home', u.user)}::userdb_mail=maildir:${mailDir(u.user)}\n`).join(''),
    { mode: 0o644 });
  }

  const pidFile = path.join(dir, 'run', 'master.pid');
  let masterPid: number | undefined;
  /** Where the log of the running master begins. */
  let logStart = 0;
  const tail = async () => (await readFile(logPath, 'utf8').catch(() => '')).split('\n').slice(-25).join('\n');

  async function start(): Promise<void> {
    if (masterPid) return;
    logStart = (await stat(logPath)).size;
    // The daemonized master keeps inherited pipes open, so its startup output goes to a file.
    const errPath = path.join(dir, 'startup.err');
    const errFd = openSync(errPath, 'w');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('dovecot', ['-c', confPath], { stdio: ['ignore', errFd, errFd] });
      child.once('error', reject).once('exit', resolve);
    }).finally(() => closeSync(errFd));
    if (code !== 0) throw new Error(`dovecot failed to start: ${await readFile(errPath, 'utf8')}\n${await tail()}`);
    // The daemonized master writes its pid file a moment after the launcher exits.
    const readPid = async () => Number(await readFile(pidFile, 'utf8').catch(() => '')) || undefined;
    const found = async () => {
      masterPid = await readPid();
      return masterPid !== undefined;
    };
    if (!(await waitFor(found, 10_000))) {
      throw new Error(`dovecot wrote no ${pidFile}\n${await tail()}`);
    }
    running.set(dir, () => masterPid);
    try {
      await waitForGreeting(port, 10_000);
      if (tlsPort) await waitForPort(tlsPort, true, 10_000);
    } catch (e) {
      await stop();
      throw new Error(`dovecot on port ${port} not ready: ${(e as Error).message}\nlog tail:\n${await tail()}`);
    }
  }

  async function stop(): Promise<void> {
    const pid = masterPid;
    masterPid = undefined;
    if (!pid) return;
    signal(pid, 'SIGTERM');
    if (!(await waitFor(() => !alive(pid), 10_000))) signal(pid, 'SIGKILL');
    // imap processes can outlive their master: upstream gone means every session gone
    await run('pkill', ['-KILL', '-f', `^dovecot-imapcp-test-${port}-${process.pid}/`]).catch(() => undefined);
    await waitForPort(port, false, 10_000);
    if (tlsPort) await waitForPort(tlsPort, false, 10_000);
  }

  async function sessionStats(): Promise<SessionStats[]> {
    return parseSessionStats(await readFile(logPath, 'utf8'));
  }

  async function doveadm(args: string[]): Promise<string> {
    try {
      return (await run('doveadm', ['-c', confPath, ...args], { maxBuffer: 64 << 20 })).stdout;
    } catch (e) {
      throw new Error(`doveadm ${args.join(' ')} failed: ${(e as { stderr?: string }).stderr ?? e}`);
    }
  }

  const d: Dovecot = {
    host: '127.0.0.1', port, tlsPort, certPath, rawlogDir, dir, logPath, mailDir, stop, start, sessionStats, doveadm,
    async destroy() {
      await stop();
      running.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
    async bodyCount() {
      return (await sessionStats()).reduce((n, s) => n + s.bodyCount, 0);
    },
    async waitSessionsClosed(timeoutMs = 5000) {
      let open: string[] = [];
      const done = await waitFor(async () => {
        const log = await readFile(logPath);
        const closed = new Set(parseSessionStats(log.toString('utf8')).map((s) => s.session));
        open = [...log.subarray(logStart).toString('utf8').matchAll(/imap-login: (?:Info: )?Login: .*?session=<([^>]*)>/g)].map((m) => m[1]).filter((s) => !closed.has(s));
        return open.length === 0;
      }, timeoutMs);
      if (!done) throw new Error(`IMAP sessions still open after ${timeoutMs} ms: ${open.join(', ')}`);
    },
    async setPassword(user, pass) {
      const entry = users.find((u) => u.user === user);
      if (!entry) throw new Error(`setPassword: no user ${user}`);
      entry.pass = pass;
      await writeUsers();
    },
    async kick(user = users[0].user) {
      // doveadm kick exits with 68 (EX_NOUSER) when the user had no session to end
      await run('doveadm', ['-c', confPath, 'kick', user]).catch((e: { code?: number }) => {
        if (e.code !== 68) throw e;
      });
    },
    async setUidValidity(folder, value, user = users[0].user) {
      await doveadm(['mailbox', 'update', '-u', user, '--uid-validity', String(value), folder]);
    },
  };
  try {
    await prepare();
    await start();
  } catch (e) {
    running.delete(dir);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return d;
}

/** startDovecot() whose instance is destroyed by node:test's `after` of the current suite/test. */
export async function withDovecot(opts?: DovecotOptions): Promise<Dovecot> {
  const d = await startDovecot(opts);
  after(() => d.destroy());
  return d;
}

/**
 * Dovecot 2.3 logs one line per ended session, e.g.
 *   imap(test)<4711><bA8x2nQF0tJ/AAAB>: Disconnected: Logged out in=57 out=1234 deleted=0 ... body_count=3 body_bytes=9000
 * (with "Info: " after the prefix in some setups, and reasons such as "Connection closed (...)").
 */
export function parseSessionStats(log: string): SessionStats[] {
  const out: SessionStats[] = [];
  const re = /imap\(([^)]*)\)<\d+><([^>]*)>: (?:Info: )?(?:Disconnected: )?(.*?) in=(\d+) out=(\d+)(.*)$/gm;
  for (const m of log.matchAll(re)) {
    const kv = Object.fromEntries([...m[6].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
    out.push({
      user: m[1], session: m[2], reason: m[3], in: Number(m[4]), out: Number(m[5]),
      deleted: kv.deleted ?? 0, expunged: kv.expunged ?? 0, hdrCount: kv.hdr_count ?? 0, hdrBytes: kv.hdr_bytes ?? 0,
      bodyCount: kv.body_count ?? 0, bodyBytes: kv.body_bytes ?? 0,
    });
  }
  return out;
}

function config(c: { dir: string; port: number; tlsPort?: number; rawlogDir?: string; group?: string; capabilities?: string; compress?: boolean; oauth2?: boolean }): string {
  const { dir, port, tlsPort, rawlogDir, group, capabilities, compress, oauth2 } = c;
  const me = os.userInfo().username;
  const ssl = tlsPort
    ? `ssl = yes\nssl_cert = <${dir}/cert.pem\nssl_key = <${dir}/key.pem\n` +
      (existsSync('/usr/share/dovecot/dh.pem') ? 'ssl_dh = </usr/share/dovecot/dh.pem\n' : '')
    : 'ssl = no\n';
  // Without root Dovecot can neither switch users/groups nor chroot its login/anvil processes.
  const users = isRoot
    ? 'default_internal_user = dovecot\ndefault_login_user = dovenull\n'
    : `default_internal_user = ${me}\ndefault_internal_group = ${group}\ndefault_login_user = ${me}\n`;
  const noChroot = isRoot ? '' : '  chroot =\n';
  return `# generated by test/support/dovecot.ts
instance_name = imapcp-test-${port}-${process.pid}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
debug_log_path = ${dir}/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes
${ssl}disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ' xoauth2 oauthbearer' : ''}
first_valid_uid = 1
first_valid_gid = 1
${users}mail_max_userip_connections = 500
mail_fsync = never
${rawlogDir ? `rawlog_dir = ${rawlogDir}\n` : ''}${capabilities ? `imap_capability = ${capabilities}\n` : ''}imap_logout_format = in=%i out=%o deleted=%{deleted} expunged=%{expunged} hdr_count=%{fetch_hdr_count} hdr_bytes=%{fetch_hdr_bytes} body_count=%{fetch_body_count} body_bytes=%{fetch_body_bytes}
${compress ? 'protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n' : ''}namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
${oauth2 ? `passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${dir}/oauth2.conf.ext\n}\n` : ''}userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
${tlsPort ? `  inet_listener imaps {\n    address = 127.0.0.1\n    port = ${tlsPort}\n    ssl = yes\n  }\n` : ''}  # one login process serves many connections (250+ concurrent sessions)
  service_count = 0
  client_limit = 1000
  process_limit = 4
${noChroot}}
service imap {
  process_limit = 1000
}
service anvil {
  client_limit = 2000
${noChroot}}
service auth {
  client_limit = 2000
}
`;
}

async function requireDovecot(): Promise<void> {
  try {
    await run('dovecot', ['--version']);
  } catch {
    throw new Error('dovecot is not installed: install dovecot-imapd (apt-get install dovecot-imapd) or run test/ensure-test-deps.sh');
  }
}

// As root, Dovecot's mail processes run as uid 5000: every ancestor of the temp dir must be world-traversable.
function checkTraversable(dir: string): void {
  if (!isRoot) return;
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(`${d} is not world-traversable (mode ${(mode & 0o777).toString(8)}), so Dovecot cannot reach a temp dir below it: chmod o+x it or set TMPDIR`);
    }
    if (d === path.dirname(d)) return;
  }
}

async function chownTree(roots: string[], uid: number, gid: number): Promise<void> {
  for (const r of roots) {
    await chown(r, uid, gid);
    for (const e of await readdir(r, { recursive: true })) await chown(path.join(r, e), uid, gid);
  }
}

/**
 * The command lines clients sent Dovecot (started with `rawlog`) that match `pattern`, from the
 * raw session logs (`.in` files), of every session or of those whose logs are not in `except`.
 */
export async function upstreamCommands(dovecot: Dovecot, pattern: RegExp, except: ReadonlySet<string> = new Set()): Promise<string[]> {
  const dir = dovecot.rawlogDir;
  if (!dir) throw new Error('upstreamCommands: Dovecot was started without rawlog');
  const logs = (await readdir(dir)).filter((file) => file.endsWith('.in') && !except.has(file));
  const lines = await Promise.all(logs.map(async (file) => (await readFile(path.join(dir, file), 'latin1')).split('\n')));
  return lines.flat().filter((line) => pattern.test(line));
}

/** The raw session logs Dovecot (started with `rawlog`) has written so far. */
export async function rawlogFiles(dovecot: Dovecot): Promise<Set<string>> {
  return new Set(await readdir(dovecot.rawlogDir as string));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Connects and reads the "* OK" greeting, retrying until timeoutMs. */
async function waitForGreeting(port: number, timeoutMs: number): Promise<void> {
  let last = 'no connection';
  const ok = await waitFor(() => new Promise<boolean>((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (v: boolean, why?: string) => { if (why) last = why; sock.destroy(); resolve(v); };
    sock.setTimeout(2000, () => done(false, 'no greeting'));
    sock.on('error', (e) => done(false, e.message));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('* OK'), `unexpected greeting ${JSON.stringify(buf)}`);
    });
  }), timeoutMs);
  if (!ok) throw new Error(last);
}

/** Waits until a TCP connect to the port succeeds (open=true) or is refused (open=false). */
async function waitForPort(port: number, open: boolean, timeoutMs: number): Promise<void> {
  const ok = await waitFor(() => new Promise<boolean>((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(open); });
    sock.once('error', () => resolve(!open));
  }), timeoutMs);
  if (!ok) throw new Error(`port ${port} still ${open ? 'closed' : 'open'} after ${timeoutMs} ms`);
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A daemonized master is re-parented to pid 1, which in containers may reap it late: a zombie counts as gone.
function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try { return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.[0] !== 'Z'; } catch { return true; }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}
