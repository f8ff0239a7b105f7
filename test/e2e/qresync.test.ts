// QRESYNC (RFC 7162) for clients, whatever upstream has: a client that reconnects after flag
// changes and expunges made upstream gets exactly those as VANISHED (EARLIER) and FETCH, from the
// proxy's own modseqs and record of expunges, also across a proxy restart; sessions that enabled
// it hear of expunges as VANISHED. Against Dovecot's own answers where it has QRESYNC, and against
// a Dovecot that announces no CONDSTORE or QRESYNC (as Outlook.com).
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseUidRanges } from '../../src/model/uid-set.js';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot, type Dovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { connectClient, runCli, startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';

const connect = suiteClients();
const WITHOUT_MODSEQS = 'IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS MOVE NAMESPACE LIST-STATUS SPECIAL-USE';

/** What a SELECT (QRESYNC ...) told: the mailbox's state and the changes it reported. */
interface Resync {
  uidValidity: number;
  highest: number;
  vanished: number[];
  /** UID -> its flags, of the FETCH responses. */
  changed: Map<number, string>;
  tagged: string;
}

const expand = (set: string) => parseUidRanges(set).flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i));

function changesOf(lines: readonly Buffer[]): Pick<Resync, 'vanished' | 'changed'> {
  const vanished: number[] = [];
  const changed = new Map<number, string>();
  for (const line of lines.map((l) => l.toString())) {
    const earlier = /^\* VANISHED \(EARLIER\) (\S+)/.exec(line);
    if (earlier) vanished.push(...expand(earlier[1] as string));
    if (/^\* \d+ FETCH /.test(line)) {
      const { items } = fetchItems(Buffer.from(line));
      changed.set(Number(items.get('UID')), (items.get('FLAGS')?.toString() ?? '').replace(/\\Recent ?/, ''));
    }
  }
  return { vanished: vanished.sort((a, b) => a - b), changed };
}

async function qresyncClient(port: number): Promise<RawImapClient> {
  const client = await connect(port);
  assert.match((await client.command('ENABLE QRESYNC')).untagged.map(String).join(''), /ENABLED QRESYNC/);
  return client;
}

async function selectQresync(port: number, since?: { uidValidity: number; highest: number }, known = ''): Promise<Resync> {
  const client = await qresyncClient(port);
  const args = since ? ` (QRESYNC (${since.uidValidity} ${since.highest}${known ? ` ${known}` : ''}))` : '';
  const answer = await client.command(`SELECT INBOX${args}`);
  const text = answer.untagged.map(String).join('\n');
  return {
    uidValidity: Number(/UIDVALIDITY (\d+)/.exec(text)?.[1]),
    highest: Number(/HIGHESTMODSEQ (\d+)/.exec(text)?.[1]),
    ...changesOf(answer.untagged),
    tagged: answer.tagged,
  };
}

/** Adds a keyword to `flagged` and expunges `expunged`, directly upstream. */
async function changeUpstream(dovecot: Dovecot, flagged: number[], expunged: number[]): Promise<void> {
  const direct = await connectClient(dovecot.port);
  await direct.mailboxOpen('INBOX');
  if (flagged.length) await direct.messageFlagsAdd(flagged.join(','), ['$Changed'], { uid: true });
  if (expunged.length) await direct.messageDelete(expunged.join(','), { uid: true });
  await direct.logout();
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

for (const [name, capabilities] of [
  ['upstream with QRESYNC', undefined],
  ['upstream without CONDSTORE or QRESYNC', WITHOUT_MODSEQS],
] as const) {
  describe(`QRESYNC through the proxy, ${name}`, async () => {
    const dovecot = await withDovecot(capabilities ? { capabilities } : {});
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 9, messages: 200, folders: 'INBOX:1' }));
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'imapcp-qresync-'));
    let proxy = await startTestProxy(dovecot, { dataDir });
    const first = await selectQresync(proxy.port);
    const directFirst = capabilities ? undefined : await selectQresync(dovecot.port);

    test('after 100 flag changes and 50 expunges upstream, a reconnecting client gets exactly those', async () => {
      const flagged = range(1, 100);
      const expunged = range(151, 50);
      await changeUpstream(dovecot, flagged, expunged);
      const resync = await selectQresync(proxy.port, first);
      assert.match(resync.tagged, /OK \[READ-WRITE\]/);
      assert.deepEqual(resync.vanished, expunged);
      assert.deepEqual([...resync.changed.keys()].sort((a, b) => a - b), flagged);
      assert.ok([...resync.changed.values()].every((flags) => flags.includes('$Changed')));
      assert.ok(resync.highest > first.highest);
      if (directFirst) {
        // Dovecot's own answer to the same question
        const direct = await selectQresync(dovecot.port, directFirst);
        assert.deepEqual(resync.vanished, direct.vanished);
        assert.deepEqual([...resync.changed.entries()].sort(), [...direct.changed.entries()].sort());
      }
      // only what the client names as known is reported gone
      const known = await selectQresync(proxy.port, first, '1:160');
      assert.deepEqual(known.vanished, range(151, 10));
    });

    test('imapflow with qresync: true, reopening the mailbox from its last state, hears of exactly those', async () => {
      const client = await connectClient(proxy.port, 'test', 'pass', { qresync: true });
      const vanished: number[] = [];
      const flagged: number[] = [];
      client.on('expunge', (event: { uid?: number; vanished: boolean }) => event.vanished && event.uid && vanished.push(event.uid));
      client.on('flags', (event: { uid?: number }) => event.uid && flagged.push(event.uid));
      await client.mailboxOpen('INBOX', { uidValidity: first.uidValidity, changedSince: first.highest });
      await client.logout();
      assert.deepEqual(vanished.sort((a, b) => a - b), range(151, 50));
      assert.deepEqual(flagged.sort((a, b) => a - b), range(1, 100));
    });

    test('UID FETCH ... (CHANGEDSINCE m VANISHED) reports the same', async () => {
      const client = await qresyncClient(proxy.port);
      await client.command('SELECT INBOX');
      const answer = await client.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${first.highest} VANISHED)`);
      const { vanished, changed } = changesOf(answer.untagged);
      assert.deepEqual(vanished, range(151, 50));
      assert.deepEqual([...changed.keys()].sort((a, b) => a - b), range(1, 100));
      assert.match(answer.untagged[0]?.toString() ?? '', /^\* VANISHED \(EARLIER\)/, 'VANISHED comes first');
    });

    test('sessions that enabled QRESYNC hear of expunges as VANISHED and of flag changes with the UID', async () => {
      const writer = await qresyncClient(proxy.port);
      await writer.command('SELECT INBOX');
      const watcher = await qresyncClient(proxy.port);
      await watcher.command('SELECT INBOX');
      const plain = await connect(proxy.port);
      await plain.command('SELECT INBOX');
      await writer.command('UID STORE 3 +FLAGS (\\Deleted)');
      await writer.command('UID STORE 4 +FLAGS (\\Flagged)');
      const expunge = await writer.command('UID EXPUNGE 3');
      assert.deepEqual(expunge.untagged.map(String), ['* VANISHED 3']);
      assert.match(expunge.tagged, /OK \[HIGHESTMODSEQ \d+\]/);
      const heard = (await watcher.command('NOOP')).untagged.map(String);
      assert.ok(heard.includes('* VANISHED 3'), heard.join('\n'));
      assert.ok(heard.some((line) => /^\* \d+ FETCH \(.*UID 4\b/.test(line) && line.includes('\\Flagged')), heard.join('\n'));
      assert.ok(!heard.some((line) => / EXPUNGE/.test(line)));
      const plainHeard = (await plain.command('NOOP')).untagged.map(String);
      assert.ok(plainHeard.some((line) => /^\* 3 EXPUNGE/.test(line)), plainHeard.join('\n'));
    });

    test('misuse is answered BAD', async () => {
      const client = await connect(proxy.port);
      assert.match((await client.command(`SELECT INBOX (QRESYNC (${first.uidValidity} 1))`)).tagged, /BAD QRESYNC not enabled/);
      const enabled = await qresyncClient(proxy.port);
      assert.match((await enabled.command('SELECT INBOX (QRESYNC (x 1))')).tagged, /BAD/);
      assert.match((await enabled.command('SELECT INBOX (QRESYNC (1 2 3:*))')).tagged, /BAD/);
      await enabled.command('SELECT INBOX');
      assert.match((await enabled.command('FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)')).tagged, /BAD/);
      assert.match((await enabled.command('UID FETCH 1:* (FLAGS) (VANISHED)')).tagged, /BAD/);
      // another UIDVALIDITY: the mailbox is selected, nothing reported
      const other = await selectQresync(proxy.port, { uidValidity: first.uidValidity + 1, highest: 1 });
      assert.deepEqual([other.vanished, other.changed.size], [[], 0]);
    });

    test('a cache clear takes HIGHESTMODSEQ nowhere back, and what went before it is still reported', async () => {
      const before = await selectQresync(proxy.port);
      await changeUpstream(dovecot, [], [10]);
      await selectQresync(proxy.port); // the proxy has seen the expunge
      assert.equal((await runCli(['cache', 'clear', '--data', dataDir])).code, 0);
      const after = await selectQresync(proxy.port, before);
      assert.ok(after.highest > before.highest, `${after.highest} after the clear, ${before.highest} before`);
      // the record of expunges went with the cache: every UID that is not there any more
      assert.ok(after.vanished.includes(10));
      assert.ok(!after.vanished.some((uid) => uid === 11 || uid > 200));
    });

    // last: the proxy started in a test is stopped after it
    test('changes made while the proxy was stopped, after a restart', async () => {
      const before = await selectQresync(proxy.port);
      await proxy.close();
      await changeUpstream(dovecot, range(101, 10), range(141, 5));
      proxy = await startTestProxy(dovecot, { dataDir });
      const resync = await selectQresync(proxy.port, before);
      assert.deepEqual(resync.vanished, range(141, 5));
      assert.deepEqual([...resync.changed.keys()].sort((a, b) => a - b), range(101, 10));
      assert.ok(resync.highest > before.highest, 'HIGHESTMODSEQ went on from where it was');
      // what went before stays recorded
      const everything = await selectQresync(proxy.port, first);
      assert.deepEqual(everything.vanished, [3, 10, ...range(141, 5), ...range(151, 50)]);
    });
  });
}
