// The admin commands against a running proxy (through its socket) and a stopped one (the cache
// opened directly): stats, clear while clients stay connected, status, socket permissions.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { runCli, spawnProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';
import type { StatsResult, StatusResult } from '../../src/admin/protocol.js';


const cli = (args: string[]) => runCli(args, 60_000);

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 8, messages: 60, folders: 'INBOX:2,Archive:1', bigFraction: 0.05, bigSizeMb: 3 }));
const data = await tempDir('imapcp-admin-');
const upstream = `imap://127.0.0.1:${dovecot.port}`;
const client = suiteClients();

/** UID -> sha256 of BODY[] of a folder. */
async function bodies(c: RawImapClient, folder: string): Promise<Map<number, string>> {
  assert.match((await c.command(`EXAMINE ${folder}`)).tagged, /OK/);
  const fetched = await c.command('UID FETCH 1:* (UID BODY.PEEK[])');
  assert.match(fetched.tagged, /OK/);
  const result = new Map<number, string>();
  for (const line of fetched.untagged) {
    if (!/^\* \d+ FETCH/.test(line.toString('latin1', 0, 20))) continue;
    const { items } = fetchItems(line);
    const literal = items.get('BODY[]') as Buffer;
    result.set(Number(items.get('UID')), createHash('sha256').update(literal.subarray(literal.indexOf('\r\n') + 2)).digest('hex'));
  }
  return result;
}

const stats = async () => {
  const result = await cli(['cache', 'stats', '--data', data, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StatsResult;
};

describe('admin commands', () => {
  test('a running proxy reports what it caches, clears it in under a second, and its clients keep working', async () => {
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    const c = await client(proxy.port);
    const expected = { INBOX: await bodies(c, 'INBOX'), Archive: await bodies(c, 'Archive') };

    const before = await stats();
    assert.equal(before.totals.messages, 60);
    assert.equal(before.totals.bodies, 60);
    assert.ok(before.totals.bodyBytes > 9_000_000);
    assert.equal(before.totals.bodyBytes, before.totals.totalBytes);

    const started = Date.now();
    const cleared = await cli(['cache', 'clear', '--data', data]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.ok(Date.now() - started < 1000 + 500 /* node start-up of the CLI */, `clear took ${Date.now() - started} ms`);
    const after0 = await stats();
    assert.equal(after0.totals.messages, 0);
    assert.equal(after0.totals.bodies, 0);

    // the connected client, still in its folder, is served again (from upstream)
    const again = await c.command('UID FETCH 1:* (UID BODY.PEEK[])');
    assert.match(again.tagged, /OK/);
    assert.deepEqual(await bodies(c, 'INBOX'), expected.INBOX);
    assert.deepEqual(await bodies(c, 'Archive'), expected.Archive);
    assert.equal((await stats()).totals.bodies, 60);

    const status = await cli(['status', '--data', data, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as {
      running: boolean;
      version: string;
      clients: number;
      rssAnonMb: number;
      accounts: { user: string; served: { cache: { bodies: number }; upstream: { bodies: number; bytes: number } }; upstreamTraffic: { read: number; written: number } }[];
    };
    assert.equal(parsed.running, true);
    assert.match(parsed.version, /^\d+\.\d+\.\d+/);
    assert.ok(parsed.clients >= 1);
    assert.ok(parsed.rssAnonMb > 0);
    assert.deepEqual(parsed.accounts.map((a) => a.user), ['test']);
    // 60 bodies fetched cold, 60 again after the clear; then read back from the cache
    assert.equal(parsed.accounts[0]?.served.upstream.bodies, 120);
    assert.ok((parsed.accounts[0]?.served.cache.bodies ?? 0) > 0);
    // every byte of those bodies came over the account's upstream connections, and more (commands, metadata)
    const traffic = parsed.accounts[0]?.upstreamTraffic;
    assert.ok(traffic && traffic.read > (parsed.accounts[0]?.served.upstream.bytes ?? Infinity) && traffic.written > 0, JSON.stringify(traffic));
    assert.match((await cli(['status', '--data', data])).stdout, /bodies served to clients: \d+ from the cache/);
    assert.match((await cli(['status', '--data', data])).stdout, /upstream traffic since the start: [\d.]+ MB read/);

    const socket = statSync(path.join(data, 'admin.sock'));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600, 'admin socket mode');
    assert.equal(await proxy.stop(), 0);
  });

  test('with the proxy stopped, stats and clear work on the cache directly, with the same answers', async () => {
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    const running = await stats();
    assert.equal(await proxy.stop(), 0);
    const stopped = await stats();
    assert.deepEqual(stopped, running);
    const status = await cli(['status', '--data', data]);
    assert.equal(status.code, 3);
    assert.match(status.stdout, /not running/);

    assert.equal((await cli(['cache', 'clear', '--data', data, '--folder', 'Archive'])).code, 0);
    const afterFolder = await stats();
    const folders = afterFolder.accounts[0]?.folders.map((f) => f.folder);
    assert.deepEqual(folders, ['INBOX']);
    assert.equal((await cli(['cache', 'clear', '--data', data, '--account', 'test'])).code, 0);
    assert.equal((await stats()).totals.messages, 0);
  });

  test('clearing while a client fetches: the client gets whole, correct bodies', async () => {
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    const c = await client(proxy.port);
    const expected = await bodies(c, 'INBOX'); // cached now
    const fetching = bodies(c, 'INBOX');
    await cli(['cache', 'clear', '--data', data]);
    assert.deepEqual(await fetching, expected);
    assert.deepEqual(await bodies(c, 'INBOX'), expected);
    assert.equal(await proxy.stop(), 0);
  });

  test('after a full background sync, status and cache stats report the same figures, all of it cached', async () => {
    const synced = await tempDir('imapcp-admin-sync-');
    const proxy = await spawnProxy(['--upstream', upstream, '--data', synced, '--prefetch', 'all', '--log-level', 'info']);
    (await client(proxy.port)).close(); // a login starts the sync
    const deadline = Date.now() + 60_000;
    while (!proxy.output().includes('background sync complete')) {
      assert.ok(Date.now() < deadline, 'the background sync finished');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const result = await cli(['status', '--data', synced, '--json']);
    const status = JSON.parse(result.stdout) as StatusResult & { running: boolean };
    const account = status.accounts[0];
    const stats = JSON.parse((await cli(['cache', 'stats', '--data', synced, '--json'])).stdout) as StatsResult;
    assert.deepEqual(account?.cached, stats.totals);
    assert.equal(stats.totals.messages, 60);
    assert.equal(stats.totals.bodies, 60);
    assert.equal(stats.totals.bodyBytes, stats.totals.totalBytes);
    assert.equal(account?.prefetch?.state, 'done');
    assert.equal(account?.watching, true);
    assert.ok((account?.connections ?? 0) >= 1, 'the watcher has an upstream connection');
    assert.equal(account?.connectionLimit, 4);
    assert.equal(account?.downloaded.budget, null);
    assert.ok((account?.downloaded.bytes ?? 0) >= stats.totals.bodyBytes, 'every body downloaded today is counted');
    const text = (await cli(['status', '--data', synced])).stdout;
    assert.match(text, /cached: 60\/60 bodies \(100%\), [\d.]+ MB\/[\d.]+ MB \(100%\)/);
    assert.match(text, /: \d upstream connection\(s\) of at most 4, one of them watching for changes/);
    assert.match(text, /downloaded from upstream today \(\d{4}-\d\d-\d\d\): [\d.]+ MB\n/);
    assert.match((await cli(['cache', 'stats', '--data', synced])).stdout, /\(total\)\s+60\/60 \(100%\)\s+[\d.]+ MB\/[\d.]+ MB \(100%\)/);
    assert.equal(await proxy.stop(), 0);
  });

  test('errors name the problem', async () => {
    const missing = await cli(['cache', 'stats', '--data', path.join(data, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /there is no cache in .*nowhere \(--data\); if yours runs with another data directory, give it as --data DIR/);
  });
});
