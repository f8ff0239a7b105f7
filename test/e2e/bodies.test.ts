// Every message of a realistic corpus comes through the proxy byte-identical, and after a proxy
// restart a second client is served from the cache alone: Dovecot serves no body for it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { bigMessage, corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, RawImapClient } from '../support/raw-client.js';

const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 11, messages: 160, bigFraction: 0.03, bigSizeMb: 6 }));
// larger than several upstream partials and many cache chunks
await deliver(dovecot.mailDir(), [bigMessage({ sizeMb: 21, seed: 3, folder: 'Archive/2023' })]);
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-bodies-'));

/** sha256 of BODY[] of every message of every selectable folder, by folder and UID. */
async function pullAll(port: number): Promise<Map<string, string>> {
  const client = await RawImapClient.connect(port);
  after(() => client.close());
  await client.login();
  const digests = new Map<string, string>();
  const list = await client.command('LIST "" "*"');
  for (const line of list.untagged) {
    const text = line.toString('utf8');
    if (/\\Noselect/i.test(text)) continue;
    const folder = /"\/" (.*)$/.exec(text)?.[1] as string;
    assert.match((await client.command(`EXAMINE ${folder}`)).tagged, /OK/);
    const fetched = await client.command('UID FETCH 1:* (UID BODY.PEEK[])');
    assert.match(fetched.tagged, /OK/);
    for (const response of fetched.untagged) {
      if (!/^\* \d+ FETCH/.test(response.toString('latin1', 0, 20))) continue;
      const { items } = fetchItems(response);
      const literal = items.get('BODY[]') as Buffer;
      const body = literal.subarray(literal.indexOf('\r\n') + 2);
      // Dovecot quotes a folder name only when it must, imap-core always does
      digests.set(`${folder.replace(/^"(.*)"$/, '$1')} ${items.get('UID')}`, createHash('sha256').update(body).digest('hex'));
    }
  }
  client.close();
  return digests;
}

describe('bodies through the proxy', () => {
  let expected: Map<string, string>;

  test('BODY[] of every message equals Dovecot’s, big ones included', async () => {
    expected = await pullAll(dovecot.port);
    assert.ok(expected.size > 150);
    const proxy = await startTestProxy(dovecot, { dataDir });
    const actual = await pullAll(proxy.port);
    assert.deepEqual(actual, expected);
    await proxy.close();
  });

  test('after a restart, a second client is served with no body fetched upstream', async () => {
    await dovecot.waitSessionsClosed();
    const before = await dovecot.bodyCount();
    const proxy = await startTestProxy(dovecot, { dataDir });
    const actual = await pullAll(proxy.port);
    await proxy.close();
    await dovecot.waitSessionsClosed();
    assert.deepEqual(actual, expected);
    assert.equal((await dovecot.bodyCount()) - before, 0, 'bodies Dovecot served for the second client');
  });
});
