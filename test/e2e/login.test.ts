// Logins are checked upstream; accounts never see each other's mail; passwords, tokens and mail
// never reach the log.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver, type MailMessage } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, RawImapClient } from '../support/raw-client.js';

const users = [
  { user: 'alice', pass: 'alice-secret-1' },
  { user: 'bob', pass: 'bob-secret-2' },
];
const dovecot = await withDovecot({ users });
for (const { user } of users) await createFolder(dovecot.mailDir(user), 'Sent');
const mailFor = (user: string, count: number): MailMessage[] =>
  Array.from({ length: count }, (_, i) => {
    const raw = Buffer.from(`From: x@example.org\r\nTo: ${user}@example.org\r\nSubject: for ${user} #${i}\r\n\r\nHello ${user}\r\n`);
    return { folder: 'INBOX', internalDate: new Date(Date.UTC(2025, 0, 1 + i)), size: raw.length, chunks: () => [raw] };
  });
await deliver(dovecot.mailDir('alice'), mailFor('alice', 12));
await deliver(dovecot.mailDir('bob'), mailFor('bob', 5));
const proxy = await startTestProxy(dovecot);

async function session(): Promise<RawImapClient> {
  const client = await RawImapClient.connect(proxy.port);
  after(() => client.close());
  return client;
}

describe('login passthrough', () => {
  test('a wrong password is refused with AUTHENTICATIONFAILED', async () => {
    const client = await session();
    const response = await client.command('LOGIN alice wrong-password');
    assert.match(response.tagged, /^T\d+ NO \[AUTHENTICATIONFAILED\]/);
    // and the session can still log in properly
    assert.match((await client.command('LOGIN alice alice-secret-1')).tagged, /OK/);
  });

  test('a wrong password is refused even while the account has a live upstream session', async () => {
    const first = await session();
    await first.login('alice', 'alice-secret-1');
    const second = await session();
    assert.match((await second.command('LOGIN alice alice-secret-X')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
  });

  test('an unknown user is refused', async () => {
    const client = await session();
    assert.match((await client.command('LOGIN mallory whatever')).tagged, /NO \[AUTHENTICATIONFAILED\]/);
  });

  test('AUTHENTICATE PLAIN works', async () => {
    const client = await session();
    const token = Buffer.from('\0bob\0bob-secret-2').toString('base64');
    assert.match((await client.command(`AUTHENTICATE PLAIN ${token}`)).tagged, /OK/);
    assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
  });

  test('two accounts see only their own mail', async () => {
    const counts: Record<string, number> = {};
    for (const { user, pass } of users) {
      const client = await session();
      await client.login(user, pass);
      const examine = await client.command('EXAMINE INBOX');
      counts[user] = Number(/\* (\d+) EXISTS/.exec(examine.untagged.map((b) => b.toString()).join('\n'))?.[1]);
      const fetched = await client.command('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
      for (const line of fetched.untagged) {
        const subject = fetchItems(line).items.get('BODY[HEADER.FIELDS (SUBJECT)]')?.toString() ?? '';
        assert.match(subject, new RegExp(`Subject: for ${user} #`), `${user} sees the other account's mail`);
      }
    }
    assert.deepEqual(counts, { alice: 12, bob: 5 });
  });

  test('passwords, AUTHENTICATE tokens and message contents never appear in the log (at debug level)', () => {
    const text = proxy.logText();
    assert.ok(text.length > 1000, 'the log has entries');
    const token = Buffer.from('\0bob\0bob-secret-2').toString('base64');
    for (const secret of ['alice-secret-1', 'bob-secret-2', 'alice-secret-X', 'wrong-password', token, 'Hello alice', 'Hello bob', 'for alice #']) {
      assert.ok(!text.includes(secret), `log contains ${secret}`);
    }
  });
});
