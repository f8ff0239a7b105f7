// Upstream gone and back: with Dovecot stopped mid-session the proxy serves what it has cached
// (LIST, STATUS, SELECT, FETCH, SEARCH, and a whole mbsync pull), checks logins against the
// stored hash, answers NO [UNAVAILABLE] within a second for what needs upstream; when Dovecot
// comes back with new mail, connected clients hear of it and the next pull has it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 44, messages: 90, folders: 'INBOX:3,Archive:1', bigFraction: 0.03, bigSizeMb: 3 }));
const proxy = await startTestProxy(dovecot);
const tmp = await tempDir('imapcp-offline-');
const connect = suiteClients();

async function session(pass = 'pass'): Promise<{ client: RawImapClient; login: string }> {
  const client = await connect(proxy.port, { login: false });
  return { client, login: (await client.command(`LOGIN test "${pass}"`)).tagged };
}

/** Runs a command and returns its tagged answer and how long it took. */
async function timed(client: RawImapClient, command: string): Promise<{ tagged: string; ms: number; untagged: string[] }> {
  const started = Date.now();
  const response = await client.command(command);
  return { tagged: response.tagged, ms: Date.now() - started, untagged: response.untagged.map((b) => b.toString('latin1')) };
}

const expected = path.join(tmp, 'direct');
await mbsyncPull(dovecot.port, expected);
const warm = path.join(tmp, 'warm');
await mbsyncPull(proxy.port, warm); // caches every body

describe('upstream gone and back', () => {
  let a: RawImapClient;

  test('with Dovecot stopped mid-session, an mbsync pull of everything cached is byte-identical', async () => {
    a = (await session()).client;
    assert.match((await a.command('SELECT INBOX')).tagged, /OK/);
    // a BINARY section (decoded by upstream) is cached as it came
    const binary = (await a.command('FETCH 1 (BINARY.PEEK[1])')).untagged.map(String);
    await dovecot.stop();
    const offline = path.join(tmp, 'offline');
    await mbsyncPull(proxy.port, offline);
    assert.deepEqual(await maildirDigests(offline), await maildirDigests(expected));
    assert.deepEqual((await a.command('FETCH 1 (BINARY.PEEK[1])')).untagged.map(String), binary, 'BINARY from the cache');
    assert.match((await a.command('FETCH 2 (BINARY.PEEK[1])')).tagged, /^T\d+ NO \[UNAVAILABLE\]/, 'a BINARY section never fetched');
  });

  test('offline, the right password logs in and a wrong one is refused', async () => {
    const right = await session();
    assert.match(right.login, /^T\d+ OK/);
    const wrong = await session('wrong');
    assert.match(wrong.login, /^T\d+ NO \[AUTHENTICATIONFAILED\]/);
  });

  test('offline, LIST, STATUS, SELECT, FETCH and SEARCH answer from the cache', async () => {
    const list = await timed(a, 'LIST "" "*"');
    assert.match(list.tagged, /OK/);
    assert.ok(list.untagged.some((l) => /"Archive"|Archive$/.test(l)), list.untagged.join('\n'));
    const status = await timed(a, 'STATUS Archive (MESSAGES UIDNEXT UIDVALIDITY)');
    assert.match(status.tagged, /OK/);
    const archived = Number(/MESSAGES (\d+)/.exec(status.untagged.join(''))?.[1]);
    assert.ok(archived > 5, status.untagged.join('\n'));
    const select = await timed(a, 'SELECT Archive');
    assert.match(select.tagged, /OK/);
    assert.ok(select.untagged.some((l) => l === `* ${archived} EXISTS`), select.untagged.join('\n'));
    // what mbsync fetched (no ENVELOPE or BODYSTRUCTURE: the background sync, off here, caches those)
    const fetch = await timed(a, 'FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[] BODY.PEEK[HEADER])');
    assert.match(fetch.tagged, /OK/);
    assert.equal(fetch.untagged.filter((l) => / FETCH /.test(l)).length, archived);
    const search = await timed(a, 'UID SEARCH ALL');
    assert.match(search.tagged, /OK/);
    assert.equal((search.untagged[0] ?? '').split(' ').length - 2, archived);
    const byHeader = await timed(a, 'SEARCH HEADER Message-ID "@"');
    assert.match(byHeader.tagged, /OK/);
  });

  test('offline, what needs upstream answers NO [UNAVAILABLE] within a second', async () => {
    for (const command of [
      'UID STORE 1:* +FLAGS (\\Flagged)', // a write
      'FETCH 1 (ENVELOPE)', // not cached
      'FETCH 1 BODY.PEEK[1.MIME]', // a part of a message whose BODYSTRUCTURE was never fetched
      'CREATE Offline',
    ]) {
      const answer = await timed(a, command);
      assert.match(answer.tagged, /^T\d+ NO \[UNAVAILABLE\]/, command);
      assert.ok(answer.ms < 1000, `${command}: answered after ${answer.ms} ms`);
    }
    const started = Date.now();
    a.write('A1 APPEND INBOX {3}\r\n');
    assert.match((await a.readResponse()).toString(), /^\+/);
    a.write('abc\r\n');
    assert.match((await a.readResponse()).toString(), /^A1 NO \[UNAVAILABLE\]/);
    assert.ok(Date.now() - started < 1000, `APPEND answered after ${Date.now() - started} ms`);
    assert.match((await a.command('NOOP')).tagged, /OK/, 'the session still works');
  });

  test('when Dovecot is back and gets new mail, an idling client hears of it and a pull within 5 s has it', async () => {
    assert.match((await a.command('SELECT INBOX')).tagged, /OK/);
    await a.idle();
    await dovecot.start();
    const started = Date.now();
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 44, messages: 1, startIndex: 90, folders: 'INBOX:1' }));
    const inbox = async (dir: string) => (await maildirDigests(dir)).INBOX?.length ?? 0;
    const before = await inbox(warm);
    let pulls = 0;
    for (;;) {
      await mbsyncPull(proxy.port, warm);
      pulls++;
      if ((await inbox(warm)) === before + 1) break;
      assert.ok(Date.now() - started < 5000, `no pull within 5 s had the new mail (${pulls} pulls)`);
    }
    assert.ok(Date.now() - started < 5000, `the new mail came after ${Date.now() - started} ms`);
    await a.waitFor(/^\* \d+ EXISTS/, Math.max(100, 5000 - (Date.now() - started)));
    await a.done();

    const again = path.join(tmp, 'again');
    const direct = path.join(tmp, 'direct-again');
    await mbsyncPull(dovecot.port, direct);
    await mbsyncPull(proxy.port, again);
    assert.deepEqual(await maildirDigests(again), await maildirDigests(direct));
  });

  test('a password upstream refuses (changed with the provider) no longer logs in, offline either', async () => {
    await dovecot.setPassword('test', 'changed');
    await dovecot.stop(); // the proxy's sessions upstream, logged in with the old password, end
    await dovecot.start();
    assert.match((await session()).login, /^T\d+ NO \[AUTHENTICATIONFAILED\]/);
    await dovecot.stop();
    assert.match((await session()).login, /^T\d+ NO/, 'the stored hash was dropped');
    await dovecot.start();
    assert.match((await session('changed')).login, /^T\d+ OK/);
  });
});
