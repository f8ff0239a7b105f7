// Changes made straight on Dovecot, or by another client of the proxy, reach a client that is in
// IDLE on the proxy within 2 seconds, in INBOX and in other folders.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { connectClient, startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';

const WITHIN_MS = 2_000;

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 3, messages: 20, folders: 'INBOX:1,Archive:1' }));
const proxy = await startTestProxy(dovecot);
const direct: ImapFlow = await connectClient(dovecot.port);
after(() => direct.logout().catch(() => undefined));
const connect = suiteClients();

async function idleOn(folder: string): Promise<RawImapClient> {
  const c = await connect(proxy.port);
  assert.match((await c.command(`SELECT "${folder}"`)).tagged, /OK/);
  await c.idle();
  return c;
}

const message = (subject: string) => Buffer.from(`From: a@example.org\r\nSubject: ${subject}\r\n\r\nbody\r\n`);

describe('live updates', () => {
  for (const folder of ['INBOX', 'Archive']) {
    test(`new mail, flag changes and expunges on Dovecot reach a client idling on ${folder}`, async () => {
      const idling = await idleOn(folder);
      await direct.append(folder, message(`new in ${folder}`), []);
      await idling.waitFor(/^\* \d+ EXISTS$/, WITHIN_MS);

      await direct.mailboxOpen(folder);
      await direct.messageFlagsAdd('1', ['$Live'], { uid: false });
      await idling.waitFor(/^\* 1 FETCH \(FLAGS \([^)]*\$Live/, WITHIN_MS);

      await direct.messageDelete('2', { uid: false });
      await idling.waitFor(/^\* 2 EXPUNGE$/, WITHIN_MS);
      await direct.mailboxClose();
      await idling.done();
    });
  }

  test('two clients of the proxy see each other’s changes', async () => {
    const idling = await idleOn('INBOX');
    const other = await connect(proxy.port);
    await other.command('SELECT INBOX');
    await other.command('STORE 3 +FLAGS ($Other)');
    await idling.waitFor(/^\* 3 FETCH \(FLAGS \([^)]*\$Other/, WITHIN_MS);
    await other.command('STORE 4 +FLAGS.SILENT (\\Deleted)');
    await other.command('EXPUNGE');
    await idling.waitFor(/^\* 4 EXPUNGE$/, WITHIN_MS);
    await other.command('APPEND INBOX {' + message('from the other client').length + '}\r\n' + message('from the other client').toString());
    await idling.waitFor(/^\* \d+ EXISTS$/, WITHIN_MS);
    await idling.done();
  });

  test('after all that, the proxy shows what Dovecot has', async () => {
    const view = async (port: number) => {
      const c = await connect(port);
      await c.command('EXAMINE INBOX');
      return (await c.command('UID FETCH 1:* (UID FLAGS)')).untagged.map((l) => l.toString().replace(/\\Recent ?/, '').replace(' )', ')'));
    };
    assert.deepEqual(await view(proxy.port), await view(dovecot.port));
  });
});
