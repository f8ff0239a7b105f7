// Every FETCH item the proxy answers is compared, byte for byte, with Dovecot's own answer.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, RawImapClient } from '../support/raw-client.js';

const QUERIES = [
  '(UID FLAGS RFC822.SIZE INTERNALDATE)',
  '(ENVELOPE)',
  '(BODYSTRUCTURE)',
  '(BODY)',
  '(BODY.PEEK[HEADER])',
  '(BODY.PEEK[TEXT])',
  '(BODY.PEEK[])',
  '(BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID Content-Type X-Nothing)])',
  '(BODY.PEEK[HEADER.FIELDS.NOT (Received DKIM-Signature Subject)])',
  '(RFC822.HEADER)',
  '(RFC822.TEXT)',
  '(RFC822)',
  '(BODY.PEEK[]<0.100>)',
  '(BODY.PEEK[]<100.1000000>)',
  '(BODY.PEEK[TEXT]<5.10>)',
  '(BODY.PEEK[HEADER.FIELDS (FROM)]<0.20>)',
  '(BODY.PEEK[1])',
  '(BODY.PEEK[1.MIME])',
  '(BODY.PEEK[2])',
  '(BODY.PEEK[2.MIME])',
  '(BODY.PEEK[1.2.TEXT])',
  '(BODY.PEEK[2.HEADER])',
  '(MODSEQ)',
  'FAST',
  'ALL',
  'FULL',
];

/** \Recent belongs to each server's own session; everything else must be equal. */
const normalise = (name: string, value: Buffer) =>
  name === 'FLAGS' ? value.toString('latin1').replace(/\\Recent ?/g, '').replace(' )', ')') : value.toString('latin1');

async function answers(client: RawImapClient, command: string): Promise<Map<number, Map<string, string>>> {
  const response = await client.command(command);
  assert.match(response.tagged, /^T\d+ OK/, `${command}: ${response.tagged}`);
  const byUid = new Map<number, Map<string, string>>();
  for (const line of response.untagged) {
    if (!/^\* \d+ FETCH /.test(line.toString('latin1', 0, 32))) continue; // e.g. OK [HIGHESTMODSEQ]
    const { items } = fetchItems(line);
    const uid = Number(items.get('UID')?.toString());
    byUid.set(uid, new Map([...items].map(([name, value]) => [name, normalise(name, value)])));
  }
  return byUid;
}

// set up at module level: node:test runs an after() registered inside before() right away
const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 7, messages: 90, bigFraction: 0.03, bigSizeMb: 5 }));
const proxy = await startTestProxy(dovecot);
const direct = await RawImapClient.connect(dovecot.port);
const proxied = await RawImapClient.connect(proxy.port);
await direct.login();
await proxied.login();
after(() => {
  direct.close();
  proxied.close();
});

describe('FETCH items through the proxy equal Dovecot answering directly', () => {
  const folders = ['INBOX', 'Archive/2024', 'Entwürfe'];

  for (const folder of folders) {
    test(`every item of every message in ${folder}`, async () => {
      const name = folder === 'Entwürfe' ? '"Entw&APw-rfe"' : `"${folder}"`;
      for (const client of [direct, proxied]) assert.match((await client.command(`EXAMINE ${name}`)).tagged, /OK/);
      for (const query of QUERIES) {
        const expected = await answers(direct, `UID FETCH 1:* ${query}`);
        const actual = await answers(proxied, `UID FETCH 1:* ${query}`);
        assert.deepEqual([...actual.keys()], [...expected.keys()], `${folder} ${query}: same messages`);
        for (const [uid, items] of expected) {
          assert.deepEqual(actual.get(uid), items, `${folder} UID ${uid} ${query}`);
        }
      }
    });
  }

  test('sequence-number FETCH and ranges select the same messages', async () => {
    for (const client of [direct, proxied]) await client.command('EXAMINE INBOX');
    for (const range of ['1', '2:4', '3,1,7:*', '*', '5:2']) {
      const expected = await answers(direct, `FETCH ${range} (UID RFC822.SIZE)`);
      const actual = await answers(proxied, `FETCH ${range} (UID RFC822.SIZE)`);
      assert.deepEqual(actual, expected, `FETCH ${range}`);
    }
  });

  test('UID FETCH of a UID that does not exist answers OK with nothing', async () => {
    await proxied.command('EXAMINE INBOX');
    const response = await proxied.command('UID FETCH 999999 (UID FLAGS)');
    assert.match(response.tagged, /OK/);
    assert.equal(response.untagged.length, 0);
  });
});
