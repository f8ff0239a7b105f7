// Dovecot's own caching proxy (the imapc backend) in front of an upstream: the peer to compare with.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/support/dovecot.js';

const run = promisify(execFile);
const MAIL_ID = 5000;

export interface ImapcPeer {
  port: number;
  stop(): Promise<void>;
}

export async function startImapcPeer(upstreamPort: number): Promise<ImapcPeer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-imapc-'));
  await chmod(dir, 0o755);
  for (const sub of ['run', 'state', 'home']) await mkdir(path.join(dir, sub), { mode: 0o755 });
  const root = process.getuid?.() === 0;
  const uid = root ? MAIL_ID : (process.getuid?.() ?? 0);
  const gid = root ? MAIL_ID : (process.getgid?.() ?? 0);
  if (root) await chown(path.join(dir, 'home'), uid, gid);
  const conf = path.join(dir, 'dovecot.conf');
  await writeFile(
    conf,
    `instance_name = bench-imapc-${port}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = dovecot
default_login_user = dovenull
mail_max_userip_connections = 500
mail_fsync = never
imapc_host = 127.0.0.1
imapc_port = ${upstreamPort}
imapc_ssl = no
imapc_features = rfc822.size fetch-headers search modseq fetch-bodystructure
mail_location = imapc:~/imapc
mail_cache_fields = flags date.received date.sent size.virtual size.physical imap.envelope imap.bodystructure hdr.from hdr.subject hdr.date hdr.message-id
mail_always_cache_fields = flags date.received size.virtual imap.envelope imap.bodystructure
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = imap
  args = host=127.0.0.1 port=${upstreamPort}
  default_fields = userdb_imapc_user=%u userdb_imapc_password=%w userdb_uid=${uid} userdb_gid=${gid} userdb_home=${dir}/home/%u
}
userdb {
  driver = prefetch
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
}
`,
  );
  const errFd = openSync(path.join(dir, 'startup.err'), 'w');
  await new Promise<void>((resolve, reject) => {
    spawn('dovecot', ['-c', conf], { stdio: ['ignore', errFd, errFd] })
      .once('error', reject)
      .once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`imapc peer failed to start (${code})`))));
  }).finally(() => closeSync(errFd));
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    stop: async () => {
      const pid = Number(await readFile(path.join(dir, 'run', 'master.pid'), 'utf8').catch(() => '0'));
      await run('doveadm', ['-c', conf, 'stop']).catch(() => (pid ? process.kill(pid) : undefined));
      await new Promise((r) => setTimeout(r, 1500));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
