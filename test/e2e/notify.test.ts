// NOTIFY (RFC 5465) toward clients: initial STATUS as imaptest's notify test expects, STATUS for
// other folders changed through the proxy or directly upstream (also outside IDLE), the selected
// mailbox's EXISTS pushed at once, LIST for folders created, renamed, deleted and subscribed,
// NOTIFY NONE, and refusals. Against a real Dovecot upstream.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { withDovecot } from '../support/dovecot.js';
import { startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';

const connect = suiteClients();
const MESSAGE = 'From: a@example.com\r\nSubject: notify\r\n\r\nbody\r\n';
/** How long a notification may take: the watcher's debounce, a STATUS upstream. */
const WAIT_MS = 5_000;

async function append(client: RawImapClient, folder: string): Promise<void> {
  const answer = await client.command(`APPEND ${folder} {${MESSAGE.length}+}\r\n${MESSAGE}`);
  assert.match(answer.tagged, /OK/);
}

const lines = (answer: { untagged: Buffer[] }) => answer.untagged.map(String);

describe('NOTIFY through the proxy', async () => {
  const dovecot = await withDovecot();
  const proxy = await startTestProxy(dovecot);

  test('NOTIFY is announced; initial STATUS per event set, none without STATUS (imaptest notify)', async () => {
    const client = await connect(proxy.port);
    assert.match(lines(await client.command('CAPABILITY')).join(''), / NOTIFY /);
    await client.command('CREATE first');
    await append(client, 'first');
    const expunge = await client.command('NOTIFY SET STATUS (mailboxes first (MessageExpunge))');
    assert.match(expunge.tagged, /OK/);
    assert.deepEqual(lines(expunge).filter((l) => l.startsWith('* STATUS')).length, 1);
    assert.match(lines(expunge)[0] ?? '', /^\* STATUS "first" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)$/);
    const flags = await client.command('NOTIFY SET STATUS (mailboxes first (FlagChange))');
    assert.match(lines(flags)[0] ?? '', /^\* STATUS "first" \(.*UIDVALIDITY \d+ .*HIGHESTMODSEQ \d+\)$/);
    const quiet = await client.command('NOTIFY SET (mailboxes first (MessageNew MessageExpunge FlagChange))');
    assert.deepEqual(lines(quiet), []);
    assert.match(quiet.tagged, /OK NOTIFY completed/);
  });

  test('changes of other folders through the proxy come as STATUS, also outside IDLE', async () => {
    const watcher = await connect(proxy.port);
    const writer = await connect(proxy.port);
    await writer.command('CREATE second');
    await watcher.command('ENABLE CONDSTORE');
    assert.match((await watcher.command('SELECT INBOX')).tagged, /OK/);
    assert.match((await watcher.command('NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge FlagChange))')).tagged, /OK/);
    // no command is running on the watching session: the responses come as they happen
    await append(writer, 'second');
    await watcher.waitFor(/^\* STATUS "second" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ \d+\)$/, WAIT_MS);
    await writer.command('SELECT second');
    await writer.command('STORE 1 +FLAGS (\\Seen)');
    await watcher.waitFor(/^\* STATUS "second" \(MESSAGES 1 UIDNEXT 2 UNSEEN 0 HIGHESTMODSEQ \d+\)$/, WAIT_MS);
    await writer.command('STORE 1 +FLAGS (\\Deleted)');
    await watcher.waitFor(/^\* STATUS "second" \(MESSAGES 1 UIDNEXT 2 UNSEEN 0 HIGHESTMODSEQ \d+\)$/, WAIT_MS);
    await writer.command('EXPUNGE');
    await watcher.waitFor(/^\* STATUS "second" \(MESSAGES 0 UIDNEXT 2 UNSEEN 0 HIGHESTMODSEQ \d+\)$/, WAIT_MS);
    // the selected mailbox: EXISTS at once (SELECTED), never a STATUS
    await append(writer, 'INBOX');
    assert.match(await watcher.waitFor(/^\* (\d+ EXISTS|STATUS)/, WAIT_MS), /^\* 1 EXISTS$/);
    // and during IDLE as before
    await watcher.idle();
    await append(writer, 'second');
    await watcher.waitFor(/^\* STATUS "second" \(MESSAGES 1 UIDNEXT 3 UNSEEN 1 HIGHESTMODSEQ \d+\)$/, WAIT_MS);
    await watcher.done();
  });

  test('SELECTED-DELAYED: EXISTS at once, EXPUNGE held for the next command', async () => {
    const watcher = await connect(proxy.port);
    const writer = await connect(proxy.port);
    await writer.command('CREATE delayed');
    await append(writer, 'delayed');
    await watcher.command('SELECT delayed');
    assert.match((await watcher.command('NOTIFY SET (selected-delayed (MessageNew MessageExpunge))')).tagged, /OK/);
    await append(writer, 'delayed');
    await watcher.waitFor(/^\* 2 EXISTS$/, WAIT_MS);
    await writer.command('SELECT delayed');
    await writer.command('STORE 1 +FLAGS.SILENT (\\Deleted)');
    await writer.command('EXPUNGE');
    await sleep(700);
    assert.doesNotMatch(watcher.unread, /EXPUNGE/);
    assert.match(lines(await watcher.command('NOOP')).join('\n'), /^\* 1 EXPUNGE$/m);
  });

  test('changes made directly upstream reach the NOTIFY session (the account watcher)', async () => {
    const watcher = await connect(proxy.port);
    const direct = await connect(dovecot.port);
    await direct.command('CREATE third');
    assert.match((await watcher.command('NOTIFY SET STATUS (subtree third (MessageNew MessageExpunge))')).tagged, /OK/);
    await append(direct, 'third');
    await watcher.waitFor(/^\* STATUS "third" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)$/, WAIT_MS);
    await direct.command('SELECT third');
    await direct.command('STORE 1 +FLAGS (\\Deleted)');
    await direct.command('EXPUNGE');
    await watcher.waitFor(/^\* STATUS "third" \(MESSAGES 0 UIDNEXT 2 UNSEEN 0\)$/, WAIT_MS);
  });

  test('MailboxName: LIST for CREATE, RENAME, DELETE; SubscriptionChange: LIST with \\Subscribed', async () => {
    const watcher = await connect(proxy.port);
    const writer = await connect(proxy.port);
    assert.match((await watcher.command('NOTIFY SET (personal (MailboxName SubscriptionChange))')).tagged, /OK/);
    await writer.command('CREATE named');
    await watcher.waitFor(/^\* LIST \(\) "\/" "named"$/, WAIT_MS);
    await writer.command('CREATE named/child');
    await watcher.waitFor(/^\* LIST \(\) "\/" "named\/child"$/, WAIT_MS);
    await writer.command('RENAME named renamed');
    await watcher.waitFor(/^\* LIST \(\) "\/" "renamed" \("OLDNAME" \("named"\)\)$/, WAIT_MS);
    await watcher.waitFor(/^\* LIST \(\) "\/" "renamed\/child" \("OLDNAME" \("named\/child"\)\)$/, WAIT_MS);
    await writer.command('SUBSCRIBE renamed');
    await watcher.waitFor(/^\* LIST \(\\Subscribed\) "\/" "renamed"$/, WAIT_MS);
    await writer.command('UNSUBSCRIBE renamed');
    await watcher.waitFor(/^\* LIST \(\) "\/" "renamed"$/, WAIT_MS);
    await writer.command('DELETE renamed/child');
    await watcher.waitFor(/^\* LIST \(\\NonExistent\) "\/" "renamed\/child"$/, WAIT_MS);
    // a folder created elsewhere is told once a listing finds it
    const direct = await connect(dovecot.port);
    await direct.command('CREATE elsewhere');
    await sleep(1_100); // the listing is kept for a second
    await writer.command('LIST "" "*"');
    await watcher.waitFor(/^\* LIST \(\) "\/" "elsewhere"$/, WAIT_MS);
  });

  test('NOTIFY NONE stops the notifications', async () => {
    const watcher = await connect(proxy.port);
    const writer = await connect(proxy.port);
    await writer.command('CREATE fourth');
    await watcher.command('NOTIFY SET (mailboxes fourth (MessageNew MessageExpunge))');
    await append(writer, 'fourth');
    await watcher.waitFor(/^\* STATUS "fourth" /, WAIT_MS);
    assert.match((await watcher.command('NOTIFY NONE')).tagged, /OK/);
    await append(writer, 'fourth');
    await sleep(500);
    assert.deepEqual(lines(await watcher.command('NOOP')), []);
  });

  test('bad NOTIFY commands are answered BAD, unsupported events NO [BADEVENT]', async () => {
    const client = await connect(proxy.port);
    for (const args of ['', 'SET', 'SET (personal (Nonsense))', 'SET (selected (MessageNew))', 'SET (mailboxes () (MessageNew))']) {
      assert.match((await client.command(`NOTIFY ${args}`.trim())).tagged, /^T\d+ BAD /, args);
    }
    assert.match((await client.command('NOTIFY SET (personal (AnnotationChange))')).tagged, /^T\d+ NO \[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange\)\] /);
    const anonymous = await connect(proxy.port, { login: false });
    assert.match((await anonymous.command('NOTIFY NONE')).tagged, /^T\d+ BAD /);
  });
});

describe('NOTIFY through the proxy, upstream without NOTIFY (changes found by STATUS polls)', async () => {
  const dovecot = await withDovecot({ capabilities: 'IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS MOVE NAMESPACE CONDSTORE' });
  const proxy = await startTestProxy(dovecot);

  test('a folder changed directly upstream is reported, also one created after NOTIFY', async () => {
    const watcher = await connect(proxy.port);
    const direct = await connect(dovecot.port);
    await direct.command('CREATE polled');
    assert.match((await watcher.command('NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))')).tagged, /OK/);
    await append(direct, 'polled');
    await watcher.waitFor(/^\* STATUS "polled" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)$/, WAIT_MS);
    await watcher.command('CREATE later');
    await watcher.waitFor(/^\* LIST \(\) "\/" "later"$/, WAIT_MS);
    await append(direct, 'later');
    await watcher.waitFor(/^\* STATUS "later" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)$/, WAIT_MS);
  });
});
