// What changes on the server while no client is connected shows up at the next SELECT: new mail,
// flag changes, expunges, and a new UIDVALIDITY (which drops the folder's cache).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { generateCorpus } from '../support/corpus.js';
import { rawlogFiles, upstreamCommands, withDovecot } from '../support/dovecot.js';
import { RESELECT_MAX_MESSAGES } from '../../src/model/limits.js';
import { deliver } from '../support/maildir.js';
import { smallMessages } from '../support/small-messages.js';
import { connectClient, startTestProxy } from '../support/proxy.js';
import { fetchItems, RawImapClient } from '../support/raw-client.js';

// rawlog: what the proxy asks upstream at a SELECT
const dovecot = await withDovecot({ rawlog: true });
await deliver(dovecot.mailDir(), generateCorpus({ seed: 5, messages: 40, folders: 'INBOX:1' }));
const proxy = await startTestProxy(dovecot);
const upstream: ImapFlow = await connectClient(dovecot.port);
after(() => upstream.logout().catch(() => undefined));

/** UID -> "FLAGS (...) RFC822.SIZE n" as a server answers it, and the EXAMINE facts. */
async function view(port: number, folder = 'INBOX') {
  const client = await RawImapClient.connect(port);
  try {
    await client.login();
    const examine = (await client.command(`EXAMINE ${folder}`)).untagged.map((b) => b.toString()).join('\n');
    const fetched = await client.command('UID FETCH 1:* (UID FLAGS RFC822.SIZE)');
    const messages = new Map<number, string>();
    for (const line of fetched.untagged) {
      const { items } = fetchItems(line);
      const flags = (items.get('FLAGS')?.toString() ?? '').replace(/\\Recent ?/, '').replace(' )', ')');
      messages.set(Number(items.get('UID')), `${flags} ${items.get('RFC822.SIZE')}`);
    }
    return {
      exists: Number(/\* (\d+) EXISTS/.exec(examine)?.[1]),
      keywords: /\* FLAGS \((.*)\)/.exec(examine)?.[1]?.split(' ').filter((flag) => !flag.startsWith('\\')).sort(),
      uidValidity: Number(/UIDVALIDITY (\d+)/.exec(examine)?.[1]),
      uidNext: Number(/UIDNEXT (\d+)/.exec(examine)?.[1]),
      messages,
    };
  } finally {
    client.close();
  }
}

/**
 * Three rounds on `folder` (of `count` messages, UIDs 1..count): two SELECTs with nothing changed
 * upstream ask neither CHANGEDSINCE nor SELECT / EXAMINE upstream, then changes made by a client
 * of Dovecot, through another session of the proxy, an expunge and new mail each show at the next
 * SELECT as Dovecot shows them.
 */
async function selectsAskNoopOnly(folder: string, count: number) {
  // the proxy's upstream sessions are those whose raw logs come after these
  const others = await rawlogFiles(dovecot);
  const own = await startTestProxy(dovecot);
  const asked = async () => ({
    fetches: (await upstreamCommands(dovecot, /CHANGEDSINCE/, others)).length,
    selects: (await upstreamCommands(dovecot, / (SELECT|EXAMINE) /, others)).length,
  });
  const writer = await RawImapClient.connect(own.port);
  try {
    assert.deepEqual(await view(own.port, folder), await view(dovecot.port, folder));
    await writer.login();
    await writer.command(`SELECT ${folder}`);
    for (let round = 1; round <= 3; round++) {
      // (Dovecot's own view first: its EXAMINE is not the proxy's)
      const unchanged = await view(dovecot.port, folder);
      const before = await asked();
      assert.deepEqual(await view(own.port, folder), unchanged);
      assert.deepEqual(await view(own.port, folder), unchanged);
      assert.deepEqual(await asked(), before, `round ${round}: CHANGEDSINCE fetches or SELECTs upstream at SELECTs of an unchanged folder`);
      // made by a client of Dovecot, through another session of the proxy, an expunge and new mail
      await upstream.mailboxOpen(folder);
      await upstream.messageFlagsAdd(`${100 + round}`, [`$Round${round}`], { uid: true });
      await upstream.mailboxClose();
      assert.deepEqual(await view(own.port, folder), await view(dovecot.port, folder));
      assert.match((await writer.command(`UID STORE ${200 + round} +FLAGS.SILENT (\\Flagged)`)).tagged, /OK/);
      assert.deepEqual(await view(own.port, folder), await view(dovecot.port, folder));
      // one message goes and one comes: the folder keeps its size
      await upstream.mailboxOpen(folder);
      await upstream.messageDelete(`${300 + round}`, { uid: true });
      await upstream.mailboxClose();
      await deliver(dovecot.mailDir(), smallMessages(folder, 1, count + 4 + round));
      assert.deepEqual(await view(own.port, folder), await view(dovecot.port, folder));
    }
  } finally {
    writer.close();
    await own.close();
  }
}

describe('resync at SELECT', () => {
  test('the first SELECT through the proxy matches Dovecot', async () => {
    assert.deepEqual(await view(proxy.port), await view(dovecot.port));
  });

  test('flag changes, expunges and new mail made upstream appear at the next SELECT', async () => {
    await upstream.mailboxOpen('INBOX');
    await upstream.messageFlagsAdd('1:5', ['\\Flagged', '$Important'], { uid: true });
    await upstream.messageFlagsRemove('6:10', ['\\Seen'], { uid: true });
    await upstream.messageDelete('11:13', { uid: true });
    await upstream.mailboxClose();
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 5, messages: 4, startIndex: 100, folders: 'INBOX:1' }));
    const expected = await view(dovecot.port);
    assert.equal(expected.exists, 40 - 3 + 4);
    assert.deepEqual(await view(proxy.port), expected);
  });

  test('a small folder too: while nothing changes upstream a SELECT asks only a NOOP (where upstream has CONDSTORE), and changes show', async () => {
    await deliver(dovecot.mailDir(), smallMessages('Small', 400));
    await selectsAskNoopOnly('Small', 400);
  });

  test('a new UIDVALIDITY drops the folder cache and the folder is served again from upstream', async () => {
    const before = await view(proxy.port);
    await dovecot.setUidValidity('INBOX', before.uidValidity + 1000);
    const expected = await view(dovecot.port);
    assert.equal(expected.uidValidity, before.uidValidity + 1000);
    assert.deepEqual(await view(proxy.port), expected);
  });
});

describe(`resync at SELECT of a folder of ${RESELECT_MAX_MESSAGES} messages (a connection that has it selected asks NOOP, then CHANGEDSINCE if something changed, instead of selecting it again)`, () => {
  const folder = 'Big';

  test('the first SELECT matches Dovecot', async () => {
    await deliver(dovecot.mailDir(), smallMessages(folder, RESELECT_MAX_MESSAGES));
    assert.deepEqual(await view(proxy.port, folder), await view(dovecot.port, folder));
  });

  test('flag changes with a new keyword, expunges and new mail made upstream appear at the next SELECT', async () => {
    await upstream.mailboxOpen(folder);
    await upstream.messageFlagsAdd('1:5', ['\\Flagged', '$BigLabel'], { uid: true });
    await upstream.messageFlagsAdd('9000:9010', ['\\Seen'], { uid: true });
    await upstream.messageDelete('11:13', { uid: true });
    await upstream.mailboxClose();
    await deliver(dovecot.mailDir(), smallMessages(folder, 4, RESELECT_MAX_MESSAGES));
    const expected = await view(dovecot.port, folder);
    assert.equal(expected.exists, RESELECT_MAX_MESSAGES - 3 + 4);
    assert.deepEqual(expected.keywords, ['$BigLabel']);
    assert.deepEqual(await view(proxy.port, folder), expected);
  });

  test('while nothing changes upstream a SELECT asks only a NOOP, and a change made just before the next SELECT shows', () =>
    selectsAskNoopOnly(folder, RESELECT_MAX_MESSAGES));
  test('a new UIDVALIDITY (Dovecot ends the sessions that have the folder selected) drops the folder cache', async () => {
    const before = await view(proxy.port, folder);
    await dovecot.setUidValidity(folder, before.uidValidity + 1000);
    const expected = await view(dovecot.port, folder);
    assert.equal(expected.uidValidity, before.uidValidity + 1000);
    assert.deepEqual(await view(proxy.port, folder), expected);
  });
});
