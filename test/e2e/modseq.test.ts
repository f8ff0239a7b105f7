// CONDSTORE for clients: MODSEQ, HIGHESTMODSEQ and CHANGEDSINCE work through the proxy, with the
// proxy's own modseqs: level with upstream's where it has CONDSTORE, its own counter where not.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot, type Dovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { connectClient, startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';

const connect = suiteClients();

async function session(port: number, folder = 'INBOX'): Promise<{ client: RawImapClient; highest: number }> {
  const client = await connect(port);
  const select = await client.command(`SELECT ${folder} (CONDSTORE)`);
  const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(select.untagged.map(String).join('\n'))?.[1] ?? NaN);
  return { client, highest };
}

const changedSince = async (client: RawImapClient, modseq: number) =>
  (await client.command(`UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE ${modseq})`)).untagged
    .filter((l) => / FETCH /.test(l.toString()))
    .map((l) => Number(fetchItems(l).items.get('UID')))
    .sort((a, b) => a - b);

async function changeUpstream(dovecot: Dovecot): Promise<void> {
  const direct = await connectClient(dovecot.port);
  await direct.mailboxOpen('INBOX');
  await direct.messageFlagsAdd('3', ['$Changed'], { uid: true });
  await direct.messageFlagsAdd('7', ['\\Flagged', '$Changed'], { uid: true });
  await direct.logout();
}

describe('CONDSTORE through the proxy', () => {
  test('upstream with CONDSTORE: the same HIGHESTMODSEQ and CHANGEDSINCE answers as Dovecot', async () => {
    const dovecot = await withDovecot();
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 4, messages: 15, folders: 'INBOX:1' }));
    const proxy = await startTestProxy(dovecot);
    const before = await session(proxy.port);
    assert.equal(before.highest, (await session(dovecot.port)).highest);
    await changeUpstream(dovecot);
    const proxied = await session(proxy.port);
    const direct = await session(dovecot.port);
    assert.equal(proxied.highest, direct.highest);
    assert.deepEqual(await changedSince(proxied.client, before.highest), [3, 7]);
    assert.deepEqual(await changedSince(proxied.client, before.highest), await changedSince(direct.client, before.highest));
  });

  test('after a restart, CHANGEDSINCE from before it: what changed, as Dovecot says and as the messages\' MODSEQ say', async () => {
    const dovecot = await withDovecot();
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 5, messages: 15, folders: 'INBOX:1' }));
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-modseq-'));
    after(() => rm(dataDir, { recursive: true, force: true }));
    let proxy = await startTestProxy(dovecot, { dataDir });
    const before = await session(proxy.port);
    // one change through the proxy, two upstream while it runs, then one while it is stopped
    await before.client.command('UID STORE 2 +FLAGS (\\Answered)');
    await changeUpstream(dovecot);
    await session(proxy.port);
    await proxy.close();
    const direct = await connectClient(dovecot.port);
    await direct.mailboxOpen('INBOX');
    await direct.messageFlagsAdd('11', ['$Later'], { uid: true });
    await direct.logout();
    proxy = await startTestProxy(dovecot, { dataDir });
    const proxied = await session(proxy.port);
    const upstream = await session(dovecot.port);
    assert.deepEqual(await changedSince(proxied.client, before.highest), [2, 3, 7, 11]);
    assert.deepEqual(await changedSince(proxied.client, before.highest), await changedSince(upstream.client, before.highest));
    // in between, the proxy's own modseqs decide (a change it took on twice, from the STORE and
    // from upstream, can have one above upstream's): each answer is what the records say
    const modseqs = new Map(
      (await proxied.client.command('UID FETCH 1:* (MODSEQ)')).untagged
        .filter((l) => / FETCH /.test(l.toString()))
        .map((l) => fetchItems(l).items)
        .map((items) => [Number(items.get('UID')), Number(/\d+/.exec(String(items.get('MODSEQ')))?.[0])] as const),
    );
    for (let modseq = before.highest; modseq <= proxied.highest; modseq++) {
      const expected = [...modseqs].filter(([, m]) => m > modseq).map(([uid]) => uid).sort((a, b) => a - b);
      assert.deepEqual(await changedSince(proxied.client, modseq), expected, `CHANGEDSINCE ${modseq}`);
    }
  });

  test('upstream without CONDSTORE: the proxy keeps its own modseqs', async () => {
    const dovecot = await withDovecot({ capabilities: 'IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS MOVE NAMESPACE LIST-STATUS SPECIAL-USE' });
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 4, messages: 15, folders: 'INBOX:1' }));
    const proxy = await startTestProxy(dovecot);
    const before = await session(proxy.port);
    assert.ok(before.highest > 0, 'the proxy reports a HIGHESTMODSEQ');
    await changeUpstream(dovecot);
    const after = await session(proxy.port);
    assert.ok(after.highest > before.highest);
    assert.deepEqual(await changedSince(after.client, before.highest), [3, 7]);
    // a change through the proxy moves it on too
    const stored = await after.client.command('UID STORE 9 +FLAGS ($Mine)');
    assert.deepEqual(await changedSince(after.client, after.highest), [9]);
    // that STORE's own answer and a MODSEQ search speak of the proxy's modseqs too
    const modseq = /MODSEQ \((\d+)\)/.exec(stored.untagged.map(String).join('\n'))?.[1];
    assert.ok(modseq && Number(modseq) > after.highest, `STORE answered MODSEQ ${modseq}`);
    const found = await after.client.command(`UID SEARCH MODSEQ ${modseq}`);
    assert.match(found.untagged.map(String).join('\n'), new RegExp(`^\\* SEARCH 9 \\(MODSEQ ${modseq}\\)$`, 'm'));
  });
});
