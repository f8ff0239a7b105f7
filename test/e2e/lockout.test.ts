// Gmail locks an account out once it downloaded too much or sent too many commands: `NO
// [OVERQUOTA] Account exceeded command or bandwidth limits.` to a FETCH, the same to LOGIN (with
// [ALERT], [UNAVAILABLE] or [OVERQUOTA]). Played by a TCP relay in front of a real Dovecot
// (test/support/throttle-relay.ts): the whole account pauses for minutes, logged once and shown
// by status; a client gets NO [UNAVAILABLE] saying the server limits the account, at once, for
// what is not cached, and its cached mail as usual; a lockout at LOGIN is no refused password.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { adminRequest } from '../../src/admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type AccountStatus, type StatusResult } from '../../src/admin/protocol.js';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';
import { startRelay } from '../support/throttle-relay.js';

const dovecot = await withDovecot();
await deliver(dovecot.mailDir(), generateCorpus({ seed: 41, messages: 60, folders: 'INBOX:1' }));
const connect = suiteClients();
const dataDir = await tempDir('imapcp-lockout-');
// one relay for the suite: the cache is kept per upstream server, so its address stays
let answer: (command: string) => string | undefined = () => undefined;
const relay = await startRelay(dovecot, { answer: (command) => answer(command) });
const upstreamUrl = `imap://127.0.0.1:${relay.port}`;

const GMAIL_LOCKOUT = 'Account exceeded command or bandwidth limits. (Failure)';
const LOCKED_ANSWER = /^T\d+ NO \[UNAVAILABLE\] The mail server limits this account \(too many commands or downloads\)/;
const LOCKOUT_LOG = 'upstream locks the account out: no upstream command or login until the pause ends; cached mail is served';
const isLogin = (command: string) => /^(LOGIN|AUTHENTICATE) /i.test(command);
const isBodyFetch = (command: string) => /BODY\.PEEK\[\]/i.test(command);

async function accountStatus(proxy: TestProxy): Promise<AccountStatus> {
  const response = await adminRequest<StatusResult>(path.join(proxy.dataDir, ADMIN_SOCKET_NAME), { command: 'status' });
  assert.ok(response?.ok);
  return response.result.accounts[0] as AccountStatus;
}

function assertNotAPasswordRefusal(proxy: TestProxy): void {
  const refused = proxy.logs.filter((l) => /refuse(d|s) the (stored )?password/.test(String(l['msg'])));
  assert.deepEqual(refused, [], 'no log of a refused password');
}

describe('Gmail locks the account out', () => {
  test('a FETCH answered NO [OVERQUOTA] "Account exceeded command or bandwidth limits": the account pauses, clients get NO [UNAVAILABLE] at once and their cached mail', async () => {
    let locked = false;
    answer = (command) => (locked && isBodyFetch(command) ? `NO [OVERQUOTA] ${GMAIL_LOCKOUT}` : undefined);
    const proxy = await startTestProxy(dovecot, { upstreamUrl, dataDir });
    const client = await connect(proxy.port);
    assert.match((await client.command('SELECT INBOX')).tagged, /OK/);
    const cached = await client.command('FETCH 1 (BODY.PEEK[])');
    assert.match(cached.tagged, /OK/);

    locked = true;
    assert.match((await client.command('FETCH 40 (BODY.PEEK[])')).tagged, LOCKED_ANSWER);
    const lockedAt = Date.now();
    const fetchesUpstream = relay.commands.filter((c) => isBodyFetch(c.command)).length;
    const started = Date.now();
    assert.match((await client.command('FETCH 50 (BODY.PEEK[])')).tagged, LOCKED_ANSWER);
    assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
    assert.equal(relay.commands.filter((c) => isBodyFetch(c.command)).length, fetchesUpstream, 'nothing tried upstream during the lockout');
    const again = await client.command('FETCH 1 (BODY.PEEK[])');
    assert.match(again.tagged, /OK/);
    assert.deepEqual(again.untagged, cached.untagged, 'the cached body is served');
    assert.match((await client.command('FETCH 1:60 (UID FLAGS)')).tagged, /OK/);

    const status = await accountStatus(proxy);
    assert.equal(status.lockedOut?.reason, GMAIL_LOCKOUT);
    const pause = Date.parse(status.lockedOut.until) - Date.parse(status.lockedOut.since);
    assert.ok(pause >= 5 * 60_000 - 1000 && pause <= 5 * 60_000, `paused ${pause} ms`);
    assert.equal(status.throttledSeconds, undefined);
    const logged = proxy.logs.filter((l) => l['msg'] === LOCKOUT_LOG);
    assert.equal(logged.length, 1, 'logged once');
    assert.equal(logged[0]?.['level'], 40);
    // another client logs in on the live connection's word
    const second = await connect(proxy.port);
    assert.match((await second.command('NOOP')).tagged, /OK/);
    assertNotAPasswordRefusal(proxy);
    client.close();
    second.close();
    await proxy.close();
    // connects under way when the lockout came were abandoned, not left to log in during the pause (or after the close)
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(relay.commands.filter((c) => isLogin(c.command) && c.at > lockedAt), [], 'no login upstream after the lockout');
  });

  test('LOGIN answered NO [ALERT] "Account exceeded ...": no refused password, the stored hash logs clients in, the cache is served, nothing more is tried upstream', async () => {
    answer = (command) => (isLogin(command) ? `NO [ALERT] ${GMAIL_LOCKOUT}` : undefined);
    const logins = relay.commands.filter((c) => isLogin(c.command)).length;
    const proxy = await startTestProxy(dovecot, { upstreamUrl, dataDir });
    const client = await connect(proxy.port);
    assert.match((await client.command('SELECT INBOX')).tagged, /OK/);
    assert.match((await client.command('FETCH 1 (BODY.PEEK[])')).tagged, /OK/);
    assert.match((await client.command('FETCH 45 (BODY.PEEK[])')).tagged, LOCKED_ANSWER);
    // the stored hash is still there: the right password logs in, a wrong one does not
    const second = await connect(proxy.port);
    assert.match((await second.command('SELECT INBOX')).tagged, /OK/);
    const wrong = await connect(proxy.port, { login: false });
    assert.match((await wrong.command('LOGIN "test" "wrong"')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(relay.commands.filter((c) => isLogin(c.command)).length - logins, 1, 'one login upstream: the watcher and the other clients wait for the pause');
    const status = await accountStatus(proxy);
    assert.equal(status.lockedOut?.reason, GMAIL_LOCKOUT);
    assert.equal(proxy.logs.filter((l) => l['msg'] === LOCKOUT_LOG).length, 1, 'logged once');
    assert.ok(!proxy.logs.some((l) => l['msg'] === 'upstream unreachable: serving from the cache'), 'not logged as unreachable too');
    assertNotAPasswordRefusal(proxy);
    for (const c of [client, second, wrong]) c.close();
    await proxy.close();
  });

  for (const refusal of [`NO [OVERQUOTA] ${GMAIL_LOCKOUT}`, `NO [UNAVAILABLE] ${GMAIL_LOCKOUT}`, 'NO [OVERQUOTA] Try again later']) {
    test(`LOGIN of a new account answered ${refusal}: NO [UNAVAILABLE] saying the server limits the account`, async () => {
      answer = (command) => (isLogin(command) ? refusal : undefined);
      const proxy = await startTestProxy(dovecot, { upstreamUrl, dataDir: await tempDir('imapcp-lockout-new-') });
      const client = await connect(proxy.port, { login: false });
      assert.match((await client.command('LOGIN "test" "pass"')).tagged, /^T\d+ NO \[UNAVAILABLE\] The mail server limits this account \(too many commands or downloads\); try again later/);
      assertNotAPasswordRefusal(proxy);
      client.close();
      await proxy.close();
    });
  }
});
