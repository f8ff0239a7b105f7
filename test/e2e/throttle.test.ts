// A provider that throttles and limits connections, as Microsoft 365 and Gmail do, played by a
// TCP relay in front of a real Dovecot (test/support/throttle-relay.ts): throttled commands are
// sent again after the pause upstream asked for, the whole account pauses, and a client sees no
// error, only time; refused connections leave the proxy working with those it has; a pause
// longer than a client may wait is a NO [UNAVAILABLE] at once.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { startTestProxy } from '../support/proxy.js';
import { pullDigests } from '../support/pull.js';
import { suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';
import { type RelayCommand, startRelay } from '../support/throttle-relay.js';

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 27, messages: 80, folders: 'INBOX:3,Archive:1', bigFraction: 0.03, bigSizeMb: 3 }));
const tmp = await tempDir('imapcp-throttle-');
const direct = path.join(tmp, 'direct');
await mbsyncPull(dovecot.port, direct);
const expected = await maildirDigests(direct);
const connect = suiteClients();

const BACKOFF_MS = 500;
const PAUSE_LOG = 'upstream throttles the account: its upstream commands pause';

describe('a provider that throttles and limits connections', () => {
  test('throttled commands go again after the pause asked for: mbsync sees no error, its pull is identical, the pause is logged', async () => {
    let seen = 0;
    let throttled = 0;
    const relay = await startRelay(dovecot, {
      // every third SELECT, EXAMINE or UID FETCH, four times
      throttle: (command) => (/^(UID FETCH|SELECT|EXAMINE) /i.test(command) && ++seen % 3 === 0 && throttled++ < 4 ? BACKOFF_MS : undefined),
    });
    const proxy = await startTestProxy(dovecot, { upstreamUrl: `imap://127.0.0.1:${relay.port}`, dataDir: await tempDir('imapcp-throttle-a-') });
    const started = Date.now();
    const pulled = path.join(tmp, 'throttled');
    await mbsyncPull(proxy.port, pulled);
    const elapsed = Date.now() - started;
    assert.deepEqual(await maildirDigests(pulled), expected);

    const injected = relay.commands.filter((c) => c.throttledMs !== undefined);
    assert.equal(injected.length, 4, 'throttle answers given');
    assert.ok(elapsed >= BACKOFF_MS, `the pull took ${elapsed} ms`);
    for (const answer of injected) {
      // the same command, sent again on its connection once the pause was over
      const retry = relay.commands.find((c) => c.conn === answer.conn && c.at >= answer.at && c !== answer && c.command === answer.command) as RelayCommand;
      assert.ok(retry, `${answer.command} was sent again`);
      assert.ok(retry.at - answer.at >= BACKOFF_MS - 5, `${answer.command} again after ${retry.at - answer.at} ms`);
      // and the rest of the account paused too: a command already on its way may pass, and a
      // connection that was opening when the answer came finishes its login (imapflow's)
      const setUp = new Set([...relay.accepted].filter(([, at]) => at < answer.at + 100).map(([conn]) => conn));
      const login = /^(ID|CAPABILITY|AUTHENTICATE|LOGIN|NAMESPACE|ENABLE|DONE)\b|^[A-Za-z0-9+/=]+$/;
      const during = relay.commands.filter((c) => c.at > answer.at + 100 && c.at < answer.at + BACKOFF_MS - 5 && !(setUp.has(c.conn) && login.test(c.command)));
      assert.deepEqual(during, [], 'commands sent during the pause');
    }
    const pauses = proxy.logs.filter((l) => l['msg'] === PAUSE_LOG);
    assert.ok(pauses.length >= 1 && pauses.length <= 4, `${pauses.length} pauses logged`);
    for (const line of pauses) {
      assert.equal(line['level'], 30, 'info');
      assert.equal(line['waitMs'], BACKOFF_MS);
      assert.equal(typeof line['account'], 'string');
    }
    assert.ok(!proxy.logText().includes('"pass"'), 'no password in the log');
    await proxy.close();
  });

  test('connections refused beyond two (a BYE greeting): the proxy works with those it has, mbsync pulls everything', async () => {
    const relay = await startRelay(dovecot, { maxConnections: 2, refuse: 'bye' });
    const proxy = await startTestProxy(dovecot, {
      upstreamUrl: `imap://127.0.0.1:${relay.port}`,
      dataDir: await tempDir('imapcp-throttle-b-'),
      prefetch: 'all',
      connections: 4,
    });
    const pulled = path.join(tmp, 'limited');
    await mbsyncPull(proxy.port, pulled);
    assert.deepEqual(await maildirDigests(pulled), expected);
    assert.ok(relay.refused >= 1, 'the proxy tried a third connection');
    assert.ok(relay.peak <= 2);
    const limited = proxy.logs.filter((l) => l['msg'] === 'upstream refused another connection: working with those open');
    assert.ok(limited.length >= 1, 'the limit is logged');
    assert.ok(!proxy.logs.some((l) => l['msg'] === 'upstream unreachable: serving from the cache'), 'the account did not go offline');
    await proxy.close();
  });

  test('connections reset beyond two: the same, for a raw client', async () => {
    const relay = await startRelay(dovecot, { maxConnections: 2, refuse: 'reset' });
    const proxy = await startTestProxy(dovecot, {
      upstreamUrl: `imap://127.0.0.1:${relay.port}`,
      dataDir: await tempDir('imapcp-throttle-c-'),
      prefetch: 'all',
      connections: 4,
    });
    assert.deepEqual(await pullDigests(proxy.port), await pullDigests(dovecot.port));
    assert.ok(relay.refused >= 1 && relay.peak <= 2);
    assert.ok(!proxy.logs.some((l) => l['msg'] === 'upstream unreachable: serving from the cache'));
    await proxy.close();
  });

  test('a pause longer than a client may wait: NO [UNAVAILABLE] at once, and what is cached is still served', async () => {
    const relay = await startRelay(dovecot, { throttle: (command) => (/BODY\.PEEK\[\]/i.test(command) ? 60_000 : undefined) });
    const proxy = await startTestProxy(dovecot, { upstreamUrl: `imap://127.0.0.1:${relay.port}`, dataDir: await tempDir('imapcp-throttle-d-') });
    const client = await connect(proxy.port);
    assert.match((await client.command('SELECT INBOX')).tagged, /OK/);
    const started = Date.now();
    const fetched = await client.command('FETCH 1 (BODY.PEEK[])');
    assert.match(fetched.tagged, /^T\d+ NO \[UNAVAILABLE\] The mail server is throttling this account; try again in 60 s/);
    assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
    const flags = await client.command('FETCH 1:3 (UID FLAGS)');
    assert.match(flags.tagged, /OK/);
    assert.equal(flags.untagged.length, 3);
    client.close();
    await proxy.close();
  });
});
