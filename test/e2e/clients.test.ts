// Real IMAP clients through the proxy get what they get from Dovecot directly: python's imaplib
// and mbsync (isync).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';

const run = promisify(execFile);
const fixtures = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../test/fixtures');

const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 21, messages: 120, bigFraction: 0.02, bigSizeMb: 5 }));
const proxy = await startTestProxy(dovecot);

/** mbsync pull of every folder into a fresh Maildir++; returns its directory. */
async function mbsyncPull(port: number): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-mbsync-'));
  const config = path.join(dir, 'mbsyncrc');
  await writeFile(
    config,
    [
      'IMAPAccount far', 'Host 127.0.0.1', `Port ${port}`, 'User test', 'Pass pass', 'SSLType None', 'AuthMechs LOGIN', '',
      'IMAPStore far', 'Account far', '',
      'MaildirStore near', `Inbox ${dir}/mail`, 'SubFolders Maildir++', '',
      'Channel pull', 'Far :far:', 'Near :near:', 'Patterns *', 'Create Near', 'Sync Pull', `SyncState *`, 'Expunge None', '',
    ].join('\n'),
  );
  await run('mbsync', ['-q', '-c', config, '-a'], { maxBuffer: 16 * 1024 * 1024 });
  return path.join(dir, 'mail');
}

/** Folder -> sorted digests of the messages mbsync stored (minus its own X-TUID header). */
async function maildirDigests(root: string): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  const folders = ['', ...(await readdir(root)).filter((d) => d.startsWith('.'))];
  for (const folder of folders) {
    const digests: string[] = [];
    for (const sub of ['cur', 'new']) {
      const dir = path.join(root, folder, sub);
      for (const file of await readdir(dir).catch(() => [])) {
        const bytes = await readFile(path.join(dir, file));
        const cleaned = bytes.toString('latin1').replace(/^X-TUID: .*\n/m, '');
        digests.push(createHash('sha256').update(cleaned, 'latin1').digest('hex'));
      }
    }
    result[folder || 'INBOX'] = digests.sort();
  }
  return result;
}

describe('real clients', () => {
  test('python imaplib sees the same as on Dovecot', async () => {
    const session = async (port: number) =>
      (await run('python3', [path.join(fixtures, 'imaplib-session.py'), '127.0.0.1', String(port), 'test', 'pass'])).stdout;
    assert.deepEqual(JSON.parse(await session(proxy.port)), JSON.parse(await session(dovecot.port)));
  });

  test('an mbsync pull through the proxy is identical to one straight from Dovecot', async () => {
    const expected = await maildirDigests(await mbsyncPull(dovecot.port));
    const actual = await maildirDigests(await mbsyncPull(proxy.port));
    assert.ok(Object.values(expected).flat().length > 100);
    assert.deepEqual(actual, expected);
  });
});
