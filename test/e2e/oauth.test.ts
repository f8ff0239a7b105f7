// OAuth2 upstream end to end: a real authorization server (oidc-provider) issuing 5-second
// access tokens, Dovecot checking them by introspection, `account login` through the device
// flow (and the browser flow), mbsync pulling through the proxy while tokens expire, then offline, then revoked;
// and that account beside one on a second server, logged in to with a password, in one proxy.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { StatusResult } from '../../src/admin/protocol.js';
import { accountLogin, writeAccountsConfig } from '../support/account-login.js';
import { withDovecot, type Dovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { introspectionBy, withOidcServer } from '../support/oidc-server.js';
import { runCli, startTestProxy, type TestProxy } from '../support/proxy.js';
import { RawImapClient } from '../support/raw-client.js';
import { smallMessages } from '../support/small-messages.js';
import { tempDir } from '../support/temp-dir.js';
import { TokenVault } from '../../src/sync/token-vault.js';

const TOKEN_SECONDS = 5;
const LOCAL_PASSWORD = 'local-Pa55word-only-here';

const oidc = await withOidcServer({ user: 'test', accessTokenSeconds: TOKEN_SECONDS });
const dovecot = await withDovecot({ oauth2: introspectionBy(oidc) });
await deliver(dovecot.mailDir(), [...smallMessages('INBOX', 30), ...smallMessages('Archive', 10)]);
// a second server, where the proxy logs in with the password the client gives
const passwordServer = await withDovecot({ users: [{ user: 'alice', pass: 'alice-pw' }] });
await deliver(passwordServer.mailDir(), [...smallMessages('INBOX', 20, 100), ...smallMessages('Sent', 5, 200)]);

const dataDir = await tempDir('icp-oauth-');
const account = { name: 'test', auth: 'oauth2', issuer: oidc.issuer, 'client-id': oidc.clientId, upstream: `imap://127.0.0.1:${dovecot.port}` };
const configPath = path.join(dataDir, 'config.toml');
await writeAccountsConfig(configPath, dataDir, [account]);
const outputs: string[] = [];
const proxies: TestProxy[] = [];
const startProxy = async () => {
  const proxy = await startTestProxy({ accounts: [account] }, { dataDir });
  proxies.push(proxy);
  return proxy;
};

/** `account login test` by the device flow or in a browser; its output is searched for secrets at the end. */
async function signIn(flow: 'device' | 'browser'): Promise<void> {
  const { stdout, stderr } = await accountLogin(configPath, 'test', LOCAL_PASSWORD, flow);
  outputs.push(stdout, stderr);
}

async function loginAnswer(port: number, pass: string): Promise<string> {
  const client = await RawImapClient.connect(port);
  try {
    return (await client.command(`LOGIN test "${pass}"`)).tagged;
  } finally {
    client.close();
  }
}

describe('OAuth2 upstream', () => {
  let online: Record<string, string[]> = {};

  test('account login by the device flow; the local password logs in, mbsync pulls while access tokens expire', async () => {
    await signIn('device');
    const proxy = await startProxy();
    assert.match(await loginAnswer(proxy.port, 'not the local password'), /NO \[AUTHENTICATIONFAILED\]/);
    const dir = await tempDir('icp-oauth-pull-');
    await mbsyncPull(proxy.port, dir, 'test', LOCAL_PASSWORD);
    const first = await maildirDigests(dir);
    assert.equal(first['INBOX']?.length, 30);
    assert.equal(first['.Archive']?.length, 10);
    // the access token expires; upstream drops every connection; new ones need a fresh token
    await sleep(TOKEN_SECONDS * 1000 + 500);
    const refreshes = oidc.refreshes();
    await dovecot.stop();
    await dovecot.start();
    await deliver(dovecot.mailDir(), smallMessages('INBOX', 5, 30));
    await mbsyncPull(proxy.port, dir, 'test', LOCAL_PASSWORD);
    online = await maildirDigests(dir);
    assert.equal(online['INBOX']?.length, 35);
    assert.ok(oidc.refreshes() > refreshes, 'a fresh access token for the new connections');
    assert.ok(oidc.issued.refreshTokens.length > 1, 'the provider rotated the refresh token (a public client)');
    // imapflow takes OAUTHBEARER when offered; the proxy never logs in upstream with a password
    const logins = (await readFile(dovecot.logPath, 'utf8')).split('\n').filter((line) => /imap-login: (Info: )?Login: user=<test>,/.test(line));
    assert.ok(logins.length >= 2);
    for (const line of logins) assert.match(line, /method=OAUTHBEARER/);
  });

  test('offline: the local password opens the cache', async () => {
    await proxies.at(-1)?.close();
    await dovecot.stop();
    try {
      const proxy = await startProxy();
      assert.match(await loginAnswer(proxy.port, 'not the local password'), /NO \[AUTHENTICATIONFAILED\]/);
      const dir = await tempDir('icp-oauth-offline-');
      await mbsyncPull(proxy.port, dir, 'test', LOCAL_PASSWORD);
      assert.deepEqual(await maildirDigests(dir), online);
      await proxy.close();
    } finally {
      await dovecot.start();
    }
  });

  test('a revoked refresh token: the next login is refused with the command that fixes it, and status says so', async () => {
    const [file] = await readdir(path.join(dataDir, 'oauth'));
    const vault = await TokenVault.open(path.join(dataDir, 'oauth', file as string), LOCAL_PASSWORD);
    await oidc.revoke(vault.grant.refreshToken);
    const proxy = await startProxy();
    const answer = await loginAnswer(proxy.port, LOCAL_PASSWORD);
    assert.match(answer, /NO \[AUTHENTICATIONFAILED\] .*run "imap-cache-proxy account login test"/);
    const status = await runCli(['status', '--data', dataDir], 60_000);
    assert.match(status.stdout, /login refused: .*invalid_grant.*account login test/);
    outputs.push(status.stdout, status.stderr);
    // a new account login (in a browser this time) mends it without a restart
    await signIn('browser');
    assert.match(await loginAnswer(proxy.port, LOCAL_PASSWORD), /OK/);
  });

  test('sasl = "XOAUTH2" logs in with XOAUTH2 though the server offers OAUTHBEARER too', async () => {
    await proxies.at(-1)?.close();
    const proxy = await startTestProxy({ accounts: [{ ...account, sasl: 'XOAUTH2' }] }, { dataDir });
    proxies.push(proxy);
    assert.match(await loginAnswer(proxy.port, LOCAL_PASSWORD), /OK/);
    const logins = (await readFile(dovecot.logPath, 'utf8')).split('\n').filter((line) => /imap-login: (Info: )?Login: user=<test>,/.test(line));
    assert.match(logins.at(-1) ?? '', /method=XOAUTH2/);
  });

  test('upstream refuses an access token the proxy holds as good: one refresh, one more login, the client notices nothing', async () => {
    await proxies.at(-1)?.close();
    oidc.setAccessTokenSeconds(600); // not due for a refresh for 9 minutes
    try {
      const proxy = await startProxy();
      assert.match(await loginAnswer(proxy.port, LOCAL_PASSWORD), /OK/);
      const refreshes = oidc.refreshes();
      assert.ok((await oidc.revokeAccessTokens()) >= 1);
      // every upstream connection ends: the next ones log in with the token the provider revoked
      await dovecot.stop();
      await dovecot.start();
      const logStart = (await readFile(dovecot.logPath, 'utf8')).length;
      const client = await RawImapClient.connect(proxy.port);
      try {
        assert.match((await client.command(`LOGIN test "${LOCAL_PASSWORD}"`)).tagged, /OK/);
        assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
      } finally {
        client.close();
      }
      assert.equal(oidc.refreshes() - refreshes, 1, 'one refresh, however many connections the old token was refused on');
      const upstream = (await readFile(dovecot.logPath, 'utf8')).slice(logStart).split('\n');
      assert.ok(upstream.some((line) => /auth failed.*user=<test>, method=OAUTHBEARER/.test(line)), 'Dovecot refused the revoked token');
      assert.ok(upstream.some((line) => /Login: user=<test>, method=OAUTHBEARER/.test(line)));
      assert.ok(proxy.logs.some((entry) => /refused the access token/.test(String(entry['msg']))));
    } finally {
      oidc.setAccessTokenSeconds(TOKEN_SECONDS);
    }
  });

  test('two accounts in one proxy, OAuth2 and password on two servers: mbsync gets what each server has, and a second pull reads no body upstream', async () => {
    await proxies.at(-1)?.close();
    const accounts = { accounts: [account, { name: 'alice', upstream: `imap://127.0.0.1:${passwordServer.port}` }] };
    // each account: its local login, its server, and the password there for a pull straight from it
    const logins: [name: string, pass: string, server: Dovecot, serverPass: string][] = [
      ['test', LOCAL_PASSWORD, dovecot, 'pass'],
      ['alice', 'alice-pw', passwordServer, 'alice-pw'],
    ];
    const expected = new Map<string, Record<string, string[]>>();
    for (const [name, , server, serverPass] of logins) {
      const dir = await tempDir('icp-oauth-direct-');
      await mbsyncPull(server.port, dir, name, serverPass);
      expected.set(name, await maildirDigests(dir));
    }
    assert.equal(expected.get('alice')?.['.Sent']?.length, 5);
    const pullBoth = async (proxy: TestProxy) => {
      for (const [name, pass] of logins) {
        const dir = await tempDir('icp-oauth-both-');
        await mbsyncPull(proxy.port, dir, name, pass);
        assert.deepEqual(await maildirDigests(dir), expected.get(name), `${name}'s pull through the proxy`);
      }
    };
    const servers = [dovecot, passwordServer];
    const upstreamBodies = async () => {
      await Promise.all(servers.map((server) => server.waitSessionsClosed()));
      return Promise.all(servers.map((server) => server.bodyCount()));
    };

    const first = await startTestProxy(accounts, { dataDir });
    proxies.push(first);
    await pullBoth(first);
    await first.close();
    const before = await upstreamBodies();
    // a second pull, by a restarted proxy (its OAuth2 account gets a new access token): every body from the cache
    const second = await startTestProxy(accounts, { dataDir });
    proxies.push(second);
    await pullBoth(second);
    const status = await runCli(['status', '--data', dataDir, '--json'], 60_000);
    assert.equal(status.code, 0, status.stderr);
    const served = (JSON.parse(status.stdout) as StatusResult).accounts.map((a) => [a.name, a.served.cache.bodies, a.served.upstream.bodies]);
    assert.deepEqual(served, [['test', 45, 0], ['alice', 25, 0]]);
    await second.close();
    assert.deepEqual(await upstreamBodies(), before, 'bodies each server served for the second pull: none');
  });

  test('no token and no password in clear in the data directory, the logs or the output', async () => {
    const secrets = [...oidc.issued.accessTokens, ...oidc.issued.refreshTokens, LOCAL_PASSWORD];
    assert.ok(oidc.issued.accessTokens.length >= 2);
    const files = (await readdir(dataDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    assert.ok(files.some((entry) => entry.parentPath.endsWith('oauth')));
    const texts = [...outputs, ...proxies.map((proxy) => proxy.logText())];
    for (const entry of files) {
      if (entry.name === 'config.toml') continue; // the test's own
      texts.push((await readFile(path.join(entry.parentPath, entry.name))).toString('latin1'));
    }
    for (const secret of secrets) {
      const found = texts.findIndex((text) => text.includes(secret));
      assert.equal(found, -1, `a secret in clear in ${found < outputs.length ? 'the output' : 'a log or the data directory'}`);
    }
  });
});
