// Every message of a realistic corpus comes through the proxy byte-identical, and after a proxy
// restart a second client is served from the cache alone: Dovecot serves no body for it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bigMessage, corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { pullDigests } from '../support/pull.js';
import { tempDir } from '../support/temp-dir.js';

const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 11, messages: 160, bigFraction: 0.03, bigSizeMb: 6 }));
// larger than several upstream partials and many cache chunks
await deliver(dovecot.mailDir(), [bigMessage({ sizeMb: 21, seed: 3, folder: 'Archive/2023' })]);
const dataDir = await tempDir('imapcp-bodies-');

describe('bodies through the proxy', () => {
  let expected: Map<string, string>;

  test('BODY[] of every message equals Dovecot’s, big ones included', async () => {
    expected = await pullDigests(dovecot.port);
    assert.ok(expected.size > 150);
    const proxy = await startTestProxy(dovecot, { dataDir });
    const actual = await pullDigests(proxy.port);
    assert.deepEqual(actual, expected);
    await proxy.close();
  });

  test('after a restart, a second client is served with no body fetched upstream', async () => {
    await dovecot.waitSessionsClosed();
    const before = await dovecot.bodyCount();
    const proxy = await startTestProxy(dovecot, { dataDir });
    const actual = await pullDigests(proxy.port);
    await proxy.close();
    await dovecot.waitSessionsClosed();
    assert.deepEqual(actual, expected);
    assert.equal((await dovecot.bodyCount()) - before, 0, 'bodies Dovecot served for the second client');
  });
});
