// Behind a server that announces what Microsoft 365 does (no CONDSTORE, QRESYNC, NOTIFY): what
// changed upstream is found by comparing UIDs and flags (a full sync at SELECT and NOOP) or by
// counting (a quick one when the watcher's STATUS polls see mail come or go), and what a client
// of the proxy sees is exactly upstream's state.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ImapFlow } from 'imapflow';
import type { StatsResult, StatusResult } from '../../src/admin/protocol.js';
import { OUTLOOK_CAPABILITIES, withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { connectClient, runCli, startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';
import { smallMessages } from '../support/small-messages.js';

const FOLDER = 'Archive';
const COUNT = 3000;
/** The watcher's STATUS polls of a selected folder (every 1.5 s) and what follows them. */
const WITHIN_MS = 4_000;

const dovecot = await withDovecot({ capabilities: OUTLOOK_CAPABILITIES });
await createFolder(dovecot.mailDir(), FOLDER);
await createFolder(dovecot.mailDir(), 'Quiet');
await deliver(dovecot.mailDir(), smallMessages(FOLDER, COUNT));
await deliver(dovecot.mailDir(), smallMessages('Quiet', 20));
await deliver(dovecot.mailDir(), smallMessages('INBOX', 2000));
const proxy = await startTestProxy(dovecot, { pollInterval: '1s' });
const direct: ImapFlow = await connectClient(dovecot.port);
after(() => direct.logout().catch(() => undefined));
const connect = suiteClients();

/** Bytes the proxy read upstream so far (`status --json`). */
const readUpstream = async () => (JSON.parse((await runCli(['status', '--json', '--data', proxy.dataDir])).stdout) as StatusResult).accounts[0]?.upstreamTraffic.read ?? 0;

/** A session's view of the folder: EXISTS, UIDNEXT, and `UID FETCH 1:* (UID FLAGS)` as "uid flags" lines (\Recent left out). */
async function view(client: RawImapClient, folder = FOLDER) {
  const selected = (await client.command(`SELECT "${folder}"`)).untagged.map(String).join('\n');
  return { exists: Number(/\* (\d+) EXISTS/.exec(selected)?.[1]), uidNext: Number(/UIDNEXT (\d+)/.exec(selected)?.[1]), messages: await flags(client) };
}

async function flags(client: RawImapClient): Promise<string[]> {
  const fetched = await client.command('UID FETCH 1:* (UID FLAGS)');
  assert.match(fetched.tagged, /OK/);
  return fetched.untagged
    .filter((line) => / FETCH /.test(line.toString('latin1', 0, 40)))
    .map((line) => {
      const { items } = fetchItems(line);
      const listed = (items.get('FLAGS')?.toString() ?? '()').slice(1, -1).split(' ').filter((flag) => flag && flag !== '\\Recent');
      return `${items.get('UID')} ${listed.sort().join(' ')}`;
    });
}

/** Changes made straight on Dovecot, by another client: flags (a new keyword among them), expunges, new mail. */
async function changeUpstream(uids: { flag: number[]; label: number[]; unflag: number[]; expunge: number[] }, append: number) {
  await direct.mailboxOpen(FOLDER);
  await direct.messageFlagsAdd(uids.flag, ['\\Seen'], { uid: true });
  await direct.messageFlagsAdd(uids.label, ['\\Flagged', '$Label'], { uid: true });
  if (uids.unflag.length) await direct.messageFlagsRemove(uids.unflag, ['\\Seen'], { uid: true });
  await direct.messageDelete(uids.expunge, { uid: true });
  await direct.mailboxClose();
  for (let i = 0; i < append; i++) await direct.append(FOLDER, Buffer.from(`Subject: new ${i}\r\n\r\nbody\r\n`), i % 2 ? ['\\Seen'] : []);
}

const every = (step: number, from: number) => Array.from({ length: Math.floor((COUNT - from) / step) + 1 }, (_, i) => from + i * step);

describe(`behind a server without CONDSTORE, QRESYNC and NOTIFY: a folder of ${COUNT} messages`, () => {
  test('the first SELECT, and a SELECT after flag changes, expunges and new mail upstream: exactly what Dovecot shows', async () => {
    const viaProxy = await connect(proxy.port);
    const viaDovecot = await connect(dovecot.port);
    assert.deepEqual(await view(viaProxy), await view(viaDovecot));

    // spread over the folder, the newest and the oldest messages among them
    await changeUpstream({ flag: every(97, 1), label: [...every(211, 5), COUNT], unflag: [], expunge: [2, ...every(331, 50), COUNT - 1] }, 5);
    const expected = await view(viaDovecot);
    assert.equal(expected.exists, COUNT - 11 + 5);
    assert.deepEqual(await view(viaProxy), expected);
  });

  test('a session that stays selected: NOOP tells it of the next changes, and its view is then Dovecot\'s', async () => {
    const viaProxy = await connect(proxy.port);
    await view(viaProxy);
    await changeUpstream({ flag: [30, 40], label: [60], unflag: [98, 195], expunge: [70, 2000] }, 2);
    const noop = (await viaProxy.command('NOOP')).untagged.map(String);
    assert.equal(noop.filter((line) => / EXPUNGE$/.test(line)).length, 2, noop.join('\n'));
    assert.ok(noop.some((line) => / EXISTS$/.test(line)), noop.join('\n'));
    assert.ok(noop.some((line) => /FETCH \(.*FLAGS \([^)]*\$Label/.test(line)), noop.join('\n'));
    assert.deepEqual(await flags(viaProxy), (await view(await connect(dovecot.port))).messages);
  });

  test('a client idling on the folder hears of new mail and expunges (STATUS polls, a quick sync) and of \\Seen set elsewhere (UNSEEN moved: a full one)', async () => {
    const idling = await connect(proxy.port);
    const before = await view(idling);
    await idling.idle();
    await direct.append(FOLDER, Buffer.from('Subject: while idling\r\n\r\nbody\r\n'), []);
    await idling.waitFor(/^\* \d+ EXISTS$/, WITHIN_MS);
    await direct.mailboxOpen(FOLDER);
    await direct.messageDelete('3000', { uid: true });
    await idling.waitFor(/^\* \d+ EXPUNGE$/, WITHIN_MS);
    const unseen = before.messages.find((line) => !line.includes('\\Seen'))?.split(' ')[0];
    await direct.messageFlagsAdd(String(unseen), ['\\Seen'], { uid: true });
    await direct.mailboxClose();
    await idling.waitFor(/^\* \d+ FETCH \(.*FLAGS \([^)]*\\Seen/, WITHIN_MS);
    await idling.done();
    assert.deepEqual(await flags(idling), (await view(await connect(dovecot.port))).messages);
  });

  test('STATUS with HIGHESTMODSEQ after new mail elsewhere: a higher one within seconds, from a quick sync (not every message\'s flags read)', async () => {
    const client = await connect(proxy.port);
    const highest = async () => Number(/HIGHESTMODSEQ (\d+)/.exec((await client.command(`STATUS "${FOLDER}" (MESSAGES HIGHESTMODSEQ)`)).untagged.map(String).join('\n'))?.[1]);
    const before = await highest();
    await direct.append(FOLDER, Buffer.from('Subject: for STATUS\r\n\r\nbody\r\n'), []);
    const read = await readUpstream();
    // a status seen in the last 3 s is trusted: the watcher's poll or a STATUS after that brings the news
    const deadline = Date.now() + WITHIN_MS;
    while ((await highest()) <= before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok((await highest()) > before);
    // a full sync of this folder reads about 100 KB (35 bytes a message)
    const spent = (await readUpstream()) - read;
    assert.ok(spent < 20_000, `${spent} bytes read upstream`);
  });

  test('INBOX (IDLE upstream): a client idling there hears of a flag change made elsewhere; that and a STORE through the proxy cost a look at the messages around them, not at the whole folder', async () => {
    const client = await connect(proxy.port);
    await view(client, 'INBOX');
    const read = await readUpstream();
    await client.idle();
    await direct.mailboxOpen('INBOX');
    await direct.messageFlagsAdd('1000', ['$Elsewhere'], { uid: true });
    await direct.mailboxClose();
    await client.waitFor(/^\* 1000 FETCH \(.*FLAGS \([^)]*\$Elsewhere/, WITHIN_MS);
    await client.done();
    assert.match((await client.command('UID STORE 1500 +FLAGS (\\Flagged)')).tagged, /OK/);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the watcher hears of that STORE too, and looks
    // a full sync of INBOX's 2,000 messages reads about 70 KB (35 bytes a message)
    const spent = (await readUpstream()) - read;
    assert.ok(spent < 40_000, `${spent} bytes read upstream`);
    assert.deepEqual(await view(client, 'INBOX'), await view(await connect(dovecot.port), 'INBOX'));
  });

  test('a cached folder no client has open is polled in the background: its new mail and expunges reach the cache without a SELECT', async () => {
    const client = await connect(proxy.port);
    await view(client, 'Quiet');
    await client.command('SELECT INBOX'); // Quiet is no longer selected: only the background polls see it
    const messagesOf = async () => {
      const { stdout } = await runCli(['cache', 'stats', '--json', '--data', proxy.dataDir]);
      return (JSON.parse(stdout) as StatsResult).accounts[0]?.folders.find((f) => f.folder === 'Quiet')?.messages;
    };
    assert.equal(await messagesOf(), 20);
    await direct.append('Quiet', Buffer.from('Subject: in the background\r\n\r\nbody\r\n'), []);
    await direct.mailboxOpen('Quiet');
    await direct.messageDelete('1:2', { uid: true });
    await direct.mailboxClose();
    // the background polls come every second while the account changes, less often while it does not
    const deadline = Date.now() + 2 * WITHIN_MS;
    while ((await messagesOf()) !== 19 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await messagesOf(), 19);
    assert.deepEqual(await view(client, 'Quiet'), await view(await connect(dovecot.port), 'Quiet'));
  });
});
