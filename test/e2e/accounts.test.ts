// Accounts in the config: one proxy in front of two Dovecots, the login name picks the account,
// each account logs in upstream as its own user and keeps its own cache.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import type { StatsResult, StatusResult } from '../../src/admin/protocol.js';
import { withDovecot, type Dovecot } from '../support/dovecot.js';
import { createFolder, deliver, type MailMessage } from '../support/maildir.js';
import { runCli, startTestProxy } from '../support/proxy.js';
import { pullDigests } from '../support/pull.js';
import { RawImapClient } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

const mailFor = (user: string, folder: string, count: number): MailMessage[] =>
  Array.from({ length: count }, (_, i) => {
    const raw = Buffer.from(`From: x@example.org\r\nTo: ${user}@example.org\r\nSubject: ${folder} of ${user} #${i}\r\n\r\nHello ${user}\r\n`);
    return { folder, internalDate: new Date(Date.UTC(2025, 0, 1 + i)), size: raw.length, chunks: () => [raw] };
  });

// alice on one server; on the other robert (whom clients know as bob) and carol
const serverA = await withDovecot({ users: [{ user: 'alice', pass: 'alice-pw' }] });
const serverB = await withDovecot({ users: [{ user: 'robert', pass: 'robert-pw' }, { user: 'carol', pass: 'carol-pw' }] });
await deliver(serverA.mailDir('alice'), mailFor('alice', 'INBOX', 7));
await createFolder(serverB.mailDir('robert'), 'Sent');
await deliver(serverB.mailDir('robert'), [...mailFor('robert', 'INBOX', 4), ...mailFor('robert', 'Sent', 2)]);
const url = (server: Dovecot) => `imap://127.0.0.1:${server.port}`;
const proxy = await startTestProxy({
  accounts: [
    { name: 'alice', upstream: url(serverA) },
    { name: 'bob', upstream: url(serverB), 'upstream-user': 'robert', auth: 'password' },
    { name: 'carol', upstream: url(serverB) },
  ],
});

const cli = async (args: string[]) => runCli([...args, '--data', proxy.dataDir], 60_000);
async function json<T>(args: string[]): Promise<T> {
  const result = await cli([...args, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

async function session(): Promise<RawImapClient> {
  const client = await RawImapClient.connect(proxy.port);
  after(() => client.close());
  return client;
}

/** Dovecot's log lines that name this user (logins, and refused logins when the connection ends). */
async function upstreamLines(server: Dovecot, user: string): Promise<string[]> {
  return (await readFile(server.logPath, 'utf8')).split('\n').filter((line) => line.includes(`user=<${user}>`));
}

describe('accounts in the config', () => {
  test('each account is reached by its login name and serves its own server\'s mail, the upstream user as configured', async () => {
    assert.deepEqual(await pullDigests(proxy.port, 'alice', 'alice-pw'), await pullDigests(serverA.port, 'alice', 'alice-pw'));
    const bob = await pullDigests(proxy.port, 'bob', 'robert-pw');
    assert.equal(bob.size, 6);
    assert.deepEqual(bob, await pullDigests(serverB.port, 'robert', 'robert-pw'));
    // the upstream user's own name is no login name here
    const client = await session();
    assert.match((await client.command('LOGIN robert robert-pw')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
    // a password is checked by the account's own server
    assert.match((await client.command('LOGIN bob alice-pw')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
    assert.match((await client.command('LOGIN bob robert-pw')).tagged, /OK/);
  });

  test('a login name no account has is refused with NO, and nothing goes upstream', async () => {
    const client = await session();
    assert.match((await client.command('LOGIN mallory whatever')).tagged, /^T\d+ NO \[AUTHENTICATIONFAILED\]/);
    const token = Buffer.from('\0mallory\0whatever').toString('base64');
    assert.match((await client.command(`AUTHENTICATE PLAIN ${token}`)).tagged, /NO/);
    // against it: a wrong password of a configured account is asked upstream, and Dovecot logs it
    assert.match((await client.command('LOGIN alice not-her-password')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
    const deadline = Date.now() + 10_000;
    while ((await upstreamLines(serverA, 'alice')).every((line) => !/auth failed/.test(line))) {
      assert.ok(Date.now() < deadline, 'Dovecot logged the refused login of alice');
      await sleep(100);
    }
    for (const server of [serverA, serverB]) assert.deepEqual(await upstreamLines(server, 'mallory'), []);
  });

  test('failed logins are throttled per login name: past 5, a wrong password of bob is refused late and not sent upstream', async () => {
    const failedUpstream = async () => (await upstreamLines(serverB, 'robert')).filter((line) => /auth failed/.test(line)).length;
    const before = await failedUpstream();
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => session()));
    for (const answer of await Promise.all(clients.map((c) => c.command('LOGIN bob wrong-password')))) assert.match(answer.tagged, /NO \[AUTHENTICATIONFAILED\]/);
    const client = clients[0] as RawImapClient;
    const started = Date.now();
    assert.match((await client.command('LOGIN bob wrong-again')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
    assert.ok(Date.now() - started >= 900, `answered after ${Date.now() - started} ms`);
    // the five at the same moment with the same password shared one upstream login (SharedLogins)
    assert.equal(await failedUpstream(), before + 1, 'robert\'s server saw no attempt while bob was throttled');
    // another name is not held up, and bob's right password logs in after the delay
    const alice = await session();
    const quick = Date.now();
    assert.match((await alice.command('LOGIN alice alice-pw')).tagged, /OK/);
    assert.ok(Date.now() - quick < 900, 'alice is not throttled');
    assert.match((await client.command('LOGIN bob robert-pw')).tagged, /OK/);
  });

  test('status lists every configured account; clearing one account\'s cache leaves the other\'s', async () => {
    const status = await json<StatusResult>(['status']);
    assert.deepEqual(
      status.accounts.map((a) => [a.name, a.user, a.upstream, a.loggedIn]),
      [
        ['alice', 'alice', `${url(serverA)}`, true],
        ['bob', 'robert', `${url(serverB)}`, true],
        ['carol', 'carol', `${url(serverB)}`, false],
      ],
    );
    assert.match((await cli(['status'])).stdout, /bob \(robert\) on imap:\/\/127\.0\.0\.1:\d+: \d+ upstream connection/);
    assert.match((await cli(['status'])).stdout, /carol on imap:\/\/127\.0\.0\.1:\d+: no client logged in since the start/);

    const before = await json<StatsResult>(['cache', 'stats']);
    assert.deepEqual(before.accounts.map((a) => [a.name, a.totals.bodies]).sort(), [['alice', 7], ['bob', 6]]);
    const bob = await json<StatsResult>(['cache', 'stats', '--account', 'bob']);
    assert.deepEqual(bob.accounts.map((a) => a.name), ['bob']);

    const cleared = await cli(['cache', 'clear', '--account', 'alice']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /cleared 1 folder\(s\) of 1 account\(s\)/);
    assert.equal((await json<StatsResult>(['cache', 'stats', '--account', 'alice'])).totals.messages, 0);
    assert.deepEqual(await json<StatsResult>(['cache', 'stats', '--account', 'bob']), bob);

    const unknown = await cli(['cache', 'clear', '--account', 'robert']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no account named "robert" in the cache \(cached accounts: .*"bob"/);
    // alice is served again, from her server
    assert.deepEqual(await pullDigests(proxy.port, 'alice', 'alice-pw'), await pullDigests(serverA.port, 'alice', 'alice-pw'));
  });

  test('config errors of accounts stop the start with a message naming the fix', async () => {
    const dir = await tempDir('imapcp-accounts-config-');
    const start = async (toml: string) => {
      const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.toml`);
      await writeFile(file, toml);
      return { file, result: await runCli(['start', '--config', file, '--data', dir], 30_000) };
    };
    const both = await start(`upstream = "${url(serverA)}"\n[[account]]\nname = "alice"\nupstream = "${url(serverA)}"\n`);
    assert.equal(both.result.code, 2);
    assert.match(both.result.stderr, /"upstream" in .*: cannot be combined with \[\[account\]\] tables: with \[\[account\]\] tables each account names its own upstream/);
    const badUrl = await start(`[[account]]\nname = "alice"\nupstream = "${url(serverA)}"\n[[account]]\nname = "bob"\nupstream = "127.0.0.1:143"\n`);
    assert.equal(badUrl.result.code, 2);
    assert.ok(badUrl.result.stderr.includes(`account "bob" (#2 [[account]] in ${badUrl.file}), "upstream": "127.0.0.1:143" is not a URL`), badUrl.result.stderr);
    const twice = await start(`[[account]]\nname = "alice"\nupstream = "${url(serverA)}"\n[[account]]\nname = "alice"\nupstream = "${url(serverB)}"\n`);
    assert.equal(twice.result.code, 2);
    assert.match(twice.result.stderr, /"name": "alice" is already the name of account #1/);
  });
});
