// Every command that changes mail goes upstream first; what the proxy then shows equals what
// Dovecot has, checked on a second connection straight to Dovecot.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { corpusFolders, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { connectClient, startTestProxy } from '../support/proxy.js';
import { fetchItems, suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot();
for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 9, messages: 60, folders: 'INBOX:2,Sent:1,Trash:1' }));
const proxy = await startTestProxy(dovecot);
const client: ImapFlow = await connectClient(proxy.port);
after(() => client.logout().catch(() => undefined)); // the proxy may be gone first

const raw = suiteClients();

/** UID -> FLAGS and a digest of BODY[], as a server answers for a folder. */
async function snapshot(port: number, folder: string): Promise<Map<number, string>> {
  const c = await raw(port);
  assert.match((await c.command(`EXAMINE "${folder}"`)).tagged, /OK/);
  const result = new Map<number, string>();
  for (const line of (await c.command('UID FETCH 1:* (UID FLAGS BODY.PEEK[])')).untagged) {
    if (!/^\* \d+ FETCH/.test(line.toString('latin1', 0, 20))) continue;
    const { items } = fetchItems(line);
    const flags = (items.get('FLAGS')?.toString() ?? '').replace(/\\Recent ?/, '').replace(' )', ')');
    const body = items.get('BODY[]') as Buffer;
    result.set(Number(items.get('UID')), `${flags} ${createHash('sha256').update(body.subarray(body.indexOf('\r\n') + 2)).digest('hex')}`);
  }
  c.close();
  return result;
}

async function sameAsDovecot(folder: string): Promise<void> {
  assert.deepEqual(await snapshot(proxy.port, folder), await snapshot(dovecot.port, folder), `${folder} through the proxy`);
}

describe('writes go through to upstream', () => {
  test('STORE +FLAGS, -FLAGS, FLAGS and keywords', async () => {
    await client.mailboxOpen('INBOX');
    assert.ok(await client.messageFlagsAdd('1:5', ['\\Flagged', '$Work'], { uid: true }));
    assert.ok(await client.messageFlagsRemove('2:3', ['\\Seen'], { uid: true }));
    assert.ok(await client.messageFlagsSet('6', ['\\Answered', 'Junk'], { uid: true }));
    await sameAsDovecot('INBOX');
  });

  test('STORE answers with the new flags; .SILENT does not', async () => {
    const c = await raw(proxy.port);
    await c.command('SELECT INBOX');
    const loud = await c.command('UID STORE 7 +FLAGS (\\Flagged)');
    assert.match(loud.tagged, /OK/);
    assert.match(loud.untagged.map(String).join('\n'), /FETCH \(UID 7 FLAGS \([^)]*\\Flagged/);
    const silent = await c.command('UID STORE 8 +FLAGS.SILENT (\\Flagged)');
    assert.match(silent.tagged, /OK/);
    assert.equal(silent.untagged.filter((l) => /FETCH/.test(l.toString())).length, 0);
  });

  test('conditional STORE reports MODIFIED', async () => {
    const c = await raw(proxy.port);
    await c.command('SELECT INBOX');
    const response = await c.command('UID STORE 9 (UNCHANGEDSINCE 1) +FLAGS (\\Deleted)');
    assert.match(response.tagged, /OK \[MODIFIED 9\]/);
  });

  test('COPY answers COPYUID and the copies are on Dovecot', async () => {
    const c = await raw(proxy.port);
    await c.command('SELECT INBOX');
    const response = await c.command('UID COPY 10:12 Sent');
    assert.match(response.tagged, /OK \[COPYUID \d+ 10:12 \d+:\d+\]/);
    await sameAsDovecot('Sent');
  });

  test('MOVE says COPYUID, sends EXPUNGE, and the cached bodies move along', async () => {
    const c = await raw(proxy.port);
    await c.command('SELECT INBOX');
    await c.command('UID FETCH 13:15 (BODY.PEEK[])'); // cache them
    const response = await c.command('UID MOVE 13:15 Trash');
    // as Dovecot does (RFC 6851 4.3): COPYUID in an untagged OK before the EXPUNGEs
    assert.match(response.untagged[0]?.toString() ?? '', /^\* OK \[COPYUID \d+ 13:15 \d+:\d+\]/);
    assert.match(response.tagged, /OK MOVE completed/);
    assert.equal(response.untagged.filter((l) => / EXPUNGE$/.test(l.toString())).length, 3);
    await sameAsDovecot('INBOX');
    await sameAsDovecot('Trash');
  });

  test('EXPUNGE and UID EXPUNGE remove exactly the \\Deleted messages asked for', async () => {
    const c = await raw(proxy.port);
    await c.command('SELECT INBOX');
    await c.command('UID STORE 16:20 +FLAGS.SILENT (\\Deleted)');
    const uidExpunge = await c.command('UID EXPUNGE 16:17');
    assert.match(uidExpunge.tagged, /OK/);
    assert.equal(uidExpunge.untagged.filter((l) => / EXPUNGE$/.test(l.toString())).length, 2);
    const expunge = await c.command('EXPUNGE');
    assert.equal(expunge.untagged.filter((l) => / EXPUNGE$/.test(l.toString())).length, 3);
    await sameAsDovecot('INBOX');
  });

  test('APPEND answers APPENDUID; the appended bytes are cached and equal to Dovecot’s', async () => {
    const message = Buffer.from('From: me@example.org\r\nTo: you@example.org\r\nSubject: draft\r\n\r\nstill writing\r\n');
    const result = await client.append('Sent', message, ['\\Seen', '\\Draft'], new Date('2025-03-04T05:06:07Z'));
    assert.ok(result && typeof result === 'object' && result.uid);
    await sameAsDovecot('Sent');
  });

  test('APPEND to a folder that does not exist says TRYCREATE', async () => {
    const c = await raw(proxy.port);
    const response = await c.command('APPEND Nowhere {3}\r\nabc');
    assert.match(response.tagged, /NO \[TRYCREATE\]/);
  });

  test('CREATE, RENAME (the cache follows), SUBSCRIBE, UNSUBSCRIBE, DELETE', async () => {
    const c = await raw(proxy.port);
    assert.match((await c.command('CREATE Projects/Alpha')).tagged, /OK/);
    assert.match((await c.command('SELECT INBOX')).tagged, /OK/);
    assert.match((await c.command('UID COPY 21:22 Projects/Alpha')).tagged, /OK/);
    await snapshot(proxy.port, 'Projects/Alpha'); // cached under the old name
    assert.match((await c.command('RENAME Projects/Alpha Projects/Beta')).tagged, /OK/);
    await sameAsDovecot('Projects/Beta');
    assert.match((await c.command('UNSUBSCRIBE Projects/Beta')).tagged, /OK/);
    const lsub = (await c.command('LSUB "" "*"')).untagged.map(String).join('\n');
    assert.ok(!lsub.includes('Projects/Beta'));
    assert.match((await c.command('SUBSCRIBE Projects/Beta')).tagged, /OK/);
    assert.ok((await c.command('LSUB "" "*"')).untagged.map(String).join('\n').includes('Projects/Beta'));
    assert.match((await c.command('DELETE Projects/Beta')).tagged, /OK/);
    const list = (await c.command('LIST "" "*"')).untagged.map(String).join('\n');
    assert.ok(!list.includes('Projects/Beta'));
  });

  test('an upstream NO reaches the client with its text', async () => {
    const c = await raw(proxy.port);
    const response = await c.command('DELETE NoSuchFolder');
    assert.match(response.tagged, /^T\d+ NO .*(doesn't exist|not exist|NONEXISTENT)/i);
  });
});
