// mbsync (isync), a real IMAP client: pulls every folder into a Maildir++, and a comparison of
// what it stored.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Pulls every folder from HOST:port into `dir` (created); returns the wall time in seconds. */
export async function mbsyncPull(port: number, dir: string, user = 'test', pass = 'pass'): Promise<number> {
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, '.mbsyncrc');
  await writeFile(
    config,
    [
      'IMAPAccount far', 'Host 127.0.0.1', `Port ${port}`, `User ${user}`, `Pass ${pass}`, 'SSLType None', 'AuthMechs LOGIN', 'Timeout 300', '',
      'IMAPStore far', 'Account far', '',
      'MaildirStore near', `Inbox ${dir}/mail`, 'SubFolders Maildir++', '',
      'Channel pull', 'Far :far:', 'Near :near:', 'Patterns *', 'Create Near', 'Sync Pull', 'SyncState *', 'Expunge None',
      'CopyArrivalDate yes', '',
    ].join('\n'),
  );
  const started = process.hrtime.bigint();
  await run('mbsync', ['-q', '-c', config, '-a'], { maxBuffer: 16 * 1024 * 1024 });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Folder -> sorted sha256 of every message mbsync stored under `dir` (its X-TUID line removed). */
export async function maildirDigests(dir: string): Promise<Record<string, string[]>> {
  const root = path.join(dir, 'mail');
  const result: Record<string, string[]> = {};
  const folders = ['', ...(await readdir(root)).filter((d) => d.startsWith('.'))];
  for (const folder of folders) {
    const digests: string[] = [];
    for (const sub of ['cur', 'new']) {
      const messages = path.join(root, folder, sub);
      for (const file of await readdir(messages).catch(() => [])) {
        const bytes = await readFile(path.join(messages, file));
        const cleaned = bytes.toString('latin1').replace(/^X-TUID: .*\n/m, '');
        digests.push(createHash('sha256').update(cleaned, 'latin1').digest('hex'));
      }
    }
    result[folder || 'INBOX'] = digests.sort();
  }
  return result;
}
