// Real IMAP clients through the proxy get what they get from Dovecot directly: python's imaplib
// and mbsync (isync).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { startTestProxy } from '../support/proxy.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const fixtures = path.resolve(import.meta.dirname, '../../../test/fixtures');

const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 21, messages: 120, bigFraction: 0.02, bigSizeMb: 5 }));
const proxy = await startTestProxy(dovecot);

describe('real clients', () => {
  test('python imaplib sees the same as on Dovecot', async () => {
    const session = async (port: number) =>
      (await run('python3', [path.join(fixtures, 'imaplib-session.py'), '127.0.0.1', String(port), 'test', 'pass'])).stdout;
    assert.deepEqual(JSON.parse(await session(proxy.port)), JSON.parse(await session(dovecot.port)));
  });

  test('an mbsync pull through the proxy is identical to one straight from Dovecot', async () => {
    const tmp = await tempDir('imapcp-mbsync-');
    await mbsyncPull(dovecot.port, path.join(tmp, 'direct'));
    await mbsyncPull(proxy.port, path.join(tmp, 'proxy'));
    const expected = await maildirDigests(path.join(tmp, 'direct'));
    const actual = await maildirDigests(path.join(tmp, 'proxy'));
    assert.ok(Object.values(expected).flat().length > 100);
    assert.deepEqual(actual, expected);
  });
});
