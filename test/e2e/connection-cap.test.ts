// The per-account cap on upstream connections (upstream-connections, the watcher's included)
// holds, counted by a TCP relay in front of a real Dovecot that has no limit of its own
// (test/support/throttle-relay.ts): several clients logging in at the same moment on a fresh
// proxy, then several pulling every folder at once while the background sync runs, and logins
// with a password changed upstream while every connection is busy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { digestsOf, pullDigests } from '../support/pull.js';
import { suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';
import { startRelay } from '../support/throttle-relay.js';

const FOLDERS = ['Archive', 'Lists', 'Sent'];
const dovecot = await withDovecot();
for (const folder of FOLDERS) await createFolder(dovecot.mailDir(), folder);
await deliver(dovecot.mailDir(), generateCorpus({ seed: 33, messages: 120, folders: 'INBOX:3,Archive:2,Lists:2,Sent:1', bigFraction: 0.02, bigSizeMb: 2 }));
const expected = await pullDigests(dovecot.port);
const connect = suiteClients();

const CAP = 3;
const CLIENTS = 6;

describe('the cap on upstream connections', () => {
  test(`${CLIENTS} clients logging in at the same moment on a fresh proxy, then pulling at once, and logins of a changed password: never more than ${CAP} upstream connections`, async () => {
    const relay = await startRelay(dovecot);
    const proxy = await startTestProxy(dovecot, {
      upstreamUrl: `imap://127.0.0.1:${relay.port}`,
      dataDir: await tempDir('imapcp-cap-'),
      connections: CAP,
      prefetch: 'all',
    });
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(proxy.port, { login: false })));
    const answers = await Promise.all(clients.map((client) => client.command('LOGIN "test" "pass"')));
    for (const answer of answers) assert.match(answer.tagged, /^T\d+ OK/);
    assert.ok(relay.peak <= CAP, `${relay.peak} upstream connections at once after ${CLIENTS} logins`);

    const pulls = await Promise.all(Array.from({ length: CLIENTS }, () => pullDigests(proxy.port)));
    for (const pulled of pulls) assert.deepEqual(pulled, expected);
    assert.ok(relay.peak <= CAP, `${relay.peak} upstream connections at once during ${CLIENTS} pulls`);
    assert.ok(relay.peak >= 2, 'the watcher and the pool both had a connection');

    // the password changed upstream: logins with the new one are checked upstream while the
    // account's connections are all open and busy, each within the cap (the busy pulls logged in
    // with the old password before it changed: once the new one is accepted, the old one is refused)
    const busyClients = await Promise.all([1, 2].map(() => connect(proxy.port)));
    const busy = Promise.all(busyClients.map(digestsOf));
    await dovecot.setPassword('test', 'new');
    const newClients = await Promise.all(Array.from({ length: 3 }, () => connect(proxy.port, { login: false })));
    const newAnswers = await Promise.all(newClients.map((client) => client.command('LOGIN "test" "new"')));
    for (const answer of newAnswers) assert.match(answer.tagged, /^T\d+ OK/);
    assert.deepEqual(await pullDigests(proxy.port, 'test', 'new'), expected);
    for (const pulled of await busy) assert.deepEqual(pulled, expected);
    assert.ok(relay.peak <= CAP, `${relay.peak} upstream connections at once with logins of a new password`);
    await proxy.close();
  });
});
