// The same message in five folders (Gmail's labels, without X-GM-MSGID: Dovecot has no
// X-GM-EXT-1) is stored once: pulled by mbsync through the proxy, identical to upstream, its bytes
// in the cache once; expunged from four folders it stays, and it goes with the last reference.
// A cache in the layout of earlier versions is served as it is, then stored once. With X-GM-MSGID
// (Dovecot made to look like Gmail by a relay, test/support/gmail-relay.ts) each message is
// downloaded once.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { adminRequest } from '../../src/admin/admin-client.js';
import type { Sharing, StatsResult } from '../../src/admin/protocol.js';
import { bodiesOnDisk } from '../support/cache-store.js';
import { toLegacyLayout } from '../support/legacy-cache.js';
import { bigMessage, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { ALL_MAIL, inFolders, LABELS } from '../support/labelled.js';
import { createFolder, deliver, type MailMessage } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { connectClient, runCli, startTestProxy } from '../support/proxy.js';
import { tempDir } from '../support/temp-dir.js';
import { startGmailRelay } from '../support/gmail-relay.js';
import { UPSTREAM_PARTIAL_SIZE } from '../../src/model/limits.js';

const FOLDERS = [ALL_MAIL, ...LABELS.slice(0, 4)];
const dovecot = await withDovecot();
for (const folder of FOLDERS) await createFolder(dovecot.mailDir(), folder);
// in all five folders: a small message, one of several cache chunks, one longer than an upstream partial
const [small] = generateCorpus({ seed: 7, messages: 1, folders: ALL_MAIL });
const shared: MailMessage[] = [small as MailMessage, bigMessage({ sizeMb: 1, seed: 8 }), bigMessage({ sizeMb: 3, seed: 9 })];
// and in each folder a message of its own
const own = [...generateCorpus({ seed: 10, messages: FOLDERS.length, folders: ALL_MAIL })].map((message, i) => ({ ...message, folder: FOLDERS[i] as string }));
await deliver(dovecot.mailDir(), [...shared.flatMap((message) => inFolders(message, FOLDERS)), ...own]);
const [sizeSmall, sizeOneMb, sizeThreeMb] = shared.map((message) => message.vsize ?? message.size) as [number, number, number];
const sizesOwn = own.map((message) => message.vsize ?? message.size);
const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

const tmp = await tempDir('imapcp-dedupe-');
const dataDir = path.join(tmp, 'data');
let pulls = 0;
async function pull(port: number): Promise<Record<string, string[]>> {
  const dir = path.join(tmp, `pull-${++pulls}`);
  await mbsyncPull(port, dir);
  return maildirDigests(dir);
}

async function sharing(dir = dataDir): Promise<Sharing> {
  const response = await adminRequest<StatsResult>(path.join(dir, 'admin.sock'), { command: 'stats' });
  assert.ok(response?.ok);
  return response.result.sharing;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('one copy of each body', () => {
  test('a message in five folders, pulled by mbsync through the proxy: identical to upstream, its bytes cached once', async () => {
    const expected = await pull(dovecot.port);
    const proxy = await startTestProxy(dovecot, { dataDir });
    assert.deepEqual(await pull(proxy.port), expected);
    const distinct = sizeSmall + sizeOneMb + sizeThreeMb + sum(sizesOwn);
    assert.deepEqual(await sharing(), {
      contents: 3 + FOLDERS.length,
      storedBytes: distinct,
      referencedBytes: 5 * (sizeSmall + sizeOneMb + sizeThreeMb) + sum(sizesOwn),
      savedBytes: 4 * (sizeSmall + sizeOneMb + sizeThreeMb),
    });
    await proxy.close();
    assert.equal((await bodiesOnDisk(path.join(dataDir, 'cache'))).bytes, distinct, 'the bodies database holds each body once');
    const stats = await runCli(['cache', 'stats', '--data', dataDir]);
    assert.match(stats.stdout, /bodies stored once for all their folders: 8, [\d.]+ MB stored for [\d.]+ MB in folders, [\d.]+ MB saved by sharing/);
  });

  test('with X-GM-MSGID (Dovecot made to look like Gmail by a relay): a message in five folders is downloaded once, and the pull is identical', async () => {
    const relay = await startGmailRelay(dovecot);
    const gmailData = path.join(tmp, 'gmail-data');
    const expected = await pull(dovecot.port);
    await dovecot.waitSessionsClosed();
    const before = await dovecot.bodyCount();
    const bytesBefore = (await dovecot.sessionStats()).reduce((n, session) => n + session.bodyBytes, 0);
    const proxy = await startTestProxy(dovecot, { upstreamUrl: `imap://127.0.0.1:${relay.port}`, dataDir: gmailData });
    assert.deepEqual(await pull(proxy.port), expected);
    const distinct = sizeSmall + sizeOneMb + sizeThreeMb + sum(sizesOwn);
    assert.deepEqual(await sharing(gmailData), {
      contents: 3 + FOLDERS.length,
      storedBytes: distinct,
      referencedBytes: 5 * (sizeSmall + sizeOneMb + sizeThreeMb) + sum(sizesOwn),
      savedBytes: 4 * (sizeSmall + sizeOneMb + sizeThreeMb),
    });
    await proxy.close();
    await dovecot.waitSessionsClosed();
    // each distinct message once, a large one in upstream partials; without X-GM-MSGID each copy
    const pieces = (sizes: number[]) => sizes.reduce((n, size) => n + Math.ceil(size / UPSTREAM_PARTIAL_SIZE), 0);
    const once = pieces([sizeSmall, sizeOneMb, sizeThreeMb, ...sizesOwn]);
    assert.equal((await dovecot.bodyCount()) - before, once, `body fetches Dovecot served (each copy: ${pieces([sizeSmall, sizeOneMb, sizeThreeMb]) * FOLDERS.length + pieces(sizesOwn)})`);
    const bodyBytes = (await dovecot.sessionStats()).reduce((n, session) => n + session.bodyBytes, 0);
    assert.equal(bodyBytes - bytesBefore, distinct, 'body bytes Dovecot served: each distinct message once');
    // the proxy asked for X-GM-MSGID in every folder, and the relay answered it
    assert.equal(relay.commands.filter((c) => /X-GM-MSGID/.test(c.command)).length, FOLDERS.length);
  });

  test('expunged from four folders it stays; with the last folder cleared its bytes go, and the pull stays identical', async () => {
    const proxy = await startTestProxy(dovecot, { dataDir });
    const client = await connectClient(proxy.port);
    for (const folder of FOLDERS.slice(0, 4)) {
      await client.mailboxOpen(folder);
      const uids = await client.search({ larger: 2 * 1024 * 1024 }, { uid: true });
      assert.equal(uids ? uids.length : 0, 1);
      await client.messageDelete(uids as number[], { uid: true });
    }
    await client.logout();
    const before = await sharing();
    assert.equal(before.contents, 3 + FOLDERS.length, 'the large message is still stored');
    assert.equal(before.referencedBytes, 5 * (sizeSmall + sizeOneMb) + sizeThreeMb + sum(sizesOwn));

    // the last folder that has it: its own message and the large one go; the two others stay for the four folders left
    const cleared = await adminRequest(path.join(dataDir, 'admin.sock'), { command: 'clear', scope: { folder: FOLDERS[4] } });
    assert.ok(cleared?.ok);
    const left = sizeSmall + sizeOneMb + sum(sizesOwn.slice(0, 4));
    await until('the cleared folder is deleted', async () => (await sharing()).storedBytes === left);
    assert.deepEqual(await sharing(), {
      contents: 2 + 4,
      storedBytes: left,
      referencedBytes: 4 * (sizeSmall + sizeOneMb) + sum(sizesOwn.slice(0, 4)),
      savedBytes: 3 * (sizeSmall + sizeOneMb),
    });
    assert.deepEqual(await pull(proxy.port), await pull(dovecot.port));
    await proxy.close();
    const verify = await runCli(['cache', 'verify', '--data', dataDir, '--json']);
    assert.equal(verify.code, 0, verify.stdout);
    // the pull cached the cleared folder again: its bodies once more, sharing the others'
    assert.equal((await bodiesOnDisk(path.join(dataDir, 'cache'))).bytes, left + sizeThreeMb + (sizesOwn[4] as number));
  });

  test('the same cache as an earlier version wrote it (each copy on its own): served as it is, nothing fetched upstream, then stored once', async () => {
    const cache = path.join(dataDir, 'cache');
    await toLegacyLayout(cache);
    const copies = 5 * (sizeSmall + sizeOneMb) + sizeThreeMb + sum(sizesOwn);
    assert.equal((await bodiesOnDisk(cache)).bytes, copies);
    const expected = await pull(dovecot.port);
    await dovecot.waitSessionsClosed();
    const before = await dovecot.bodyCount();
    const proxy = await startTestProxy(dovecot, { dataDir });
    assert.deepEqual(await pull(proxy.port), expected);
    const distinct = sizeSmall + sizeOneMb + sizeThreeMb + sum(sizesOwn);
    await until('the bodies are stored by content', async () => (await sharing()).storedBytes === distinct);
    assert.deepEqual(await sharing(), { contents: 3 + FOLDERS.length, storedBytes: distinct, referencedBytes: copies, savedBytes: copies - distinct });
    await proxy.close();
    await dovecot.waitSessionsClosed();
    assert.equal((await dovecot.bodyCount()) - before, 0, 'bodies Dovecot served for the pull through the proxy');
    assert.equal((await bodiesOnDisk(cache)).bytes, distinct);
  });

  test('a message appended again while its body is cached (another folder, the same one): a reference to it, none of its bytes written again', async () => {
    const appendData = path.join(tmp, 'append-data');
    const bodiesDir = path.join(appendData, 'cache', 'bodies');
    const proxy = await startTestProxy(dovecot, { dataDir: appendData });
    const client = await connectClient(proxy.port);
    // folders the proxy knows (appended bodies are cached for folders it has synced)
    for (const folder of [LABELS[0] as string, ALL_MAIL]) await client.mailboxOpen(folder);
    // CRLF line ends: upstream stores the bytes as sent, and the cache keeps what the client sent
    const message = Buffer.from(Buffer.concat([...bigMessage({ sizeMb: 1, seed: 11 }).chunks()]).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    await client.append(ALL_MAIL, message);
    const once = await directoryBytes(bodiesDir);
    assert.ok(once >= message.length, `the first copy is written (${once} bytes on disk)`);
    await client.append(LABELS[0] as string, message);
    await client.append(ALL_MAIL, message);
    await client.logout();
    const stats = await sharing(appendData);
    assert.equal(stats.storedBytes, message.length);
    assert.equal(stats.referencedBytes, 3 * message.length);
    // before: each copy written in full, then dropped and compacted away
    assert.ok((await directoryBytes(bodiesDir)) - once < message.length / 10, 'bytes written for the two copies appended after the first');
    await proxy.close();
    const verify = await runCli(['cache', 'verify', '--data', appendData, '--json']);
    assert.equal(verify.code, 0, verify.stdout);
  });
});

async function directoryBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(path.join(dir, name))).size;
  return bytes;
}
