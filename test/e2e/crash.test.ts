// Crash safety: kill -9 in the middle of a background sync, of a pull and of an APPEND, then a
// restart: the cache is consistent (cache verify finds nothing broken), nothing torn is served,
// sync resumes where it was; and cache verify finds and repairs a damaged cache.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import { adminRequest } from '../../src/admin/admin-client.js';
import type { StatusResult, VerifyResult } from '../../src/admin/protocol.js';
import { FULL_BODY, keys, prefixEnd } from '../../src/cache/keys.js';
import { decodeSection, encodeSection } from '../../src/cache/records.js';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { maildirDigests, mbsyncPull } from '../support/mbsync.js';
import { runCli, spawnProxy, type SpawnedProxy } from '../support/proxy.js';
import { RawImapClient } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';


const MESSAGES = 150;
const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 33, messages: MESSAGES, folders: 'INBOX:3,Archive:1', bigFraction: 0.05, bigSizeMb: 4 }));
const upstream = `imap://127.0.0.1:${dovecot.port}`;
const tmp = await tempDir('imapcp-crash-');
let pulls = 0;

const cli = (args: string[]) => runCli(args);

async function verify(data: string, ...flags: string[]): Promise<{ code: number; result: VerifyResult }> {
  const { code, stdout, stderr } = await cli(['cache', 'verify', '--data', data, '--json', ...flags]);
  assert.ok(code === 0 || code === 2, `cache verify failed (${code}): ${stderr}`);
  return { code, result: JSON.parse(stdout) as VerifyResult };
}

/** What an mbsync pull gets, straight from Dovecot and through a proxy. */
async function pull(port: number): Promise<Record<string, string[]>> {
  const dir = path.join(tmp, `pull-${++pulls}`);
  await mbsyncPull(port, dir);
  return maildirDigests(dir);
}

const status = async (data: string) => {
  const response = await adminRequest<StatusResult>(path.join(data, 'admin.sock'), { command: 'status' });
  assert.ok(response?.ok, 'the proxy answers on its admin socket');
  return response.result;
};

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function login(proxy: SpawnedProxy): Promise<void> {
  const c = await RawImapClient.connect(proxy.port);
  await c.login();
  await c.command('LOGOUT');
  c.close();
}

const bodiesCached = async (data: string) => {
  const { stdout } = await cli(['cache', 'stats', '--data', data, '--json']);
  return (JSON.parse(stdout) as { totals: { bodies: number } }).totals.bodies;
};

describe('crash safety', () => {
  test('kill -9 during the background sync: the cache is consistent, the sync resumes, the pull is byte-identical', async () => {
    const expected = await pull(dovecot.port);
    const data = path.join(tmp, 'prefetch');
    const first = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'all']);
    await login(first);
    let progress: StatusResult['accounts'][number]['prefetch'] = null;
    await waitUntil('the background sync has cached some bodies', async () => {
      const account = (await status(data)).accounts[0];
      progress = account?.prefetch ?? null;
      return (account?.cached.bodies ?? 0) >= 10;
    });
    await first.stop('SIGKILL');
    assert.notEqual(progress?.['state'], 'done', 'killed while the background sync ran');

    const afterKill = await verify(data);
    assert.equal(afterKill.result.problemCount, 0, JSON.stringify(afterKill.result.problems));
    assert.equal(afterKill.result.strayGenerations, 0);
    const cachedAtKill = await bodiesCached(data);
    assert.ok(cachedAtKill > 0 && cachedAtKill < MESSAGES, `${cachedAtKill} bodies cached at the kill`);

    await dovecot.waitSessionsClosed();
    const fetchedBefore = await dovecot.bodyCount();
    const second = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'all']);
    await login(second);
    await waitUntil('the background sync is done', async () => (await status(data)).accounts[0]?.prefetch?.state === 'done');
    assert.equal(await second.stop(), 0);
    await dovecot.waitSessionsClosed();
    const fetchedAgain = (await dovecot.bodyCount()) - fetchedBefore;
    // bodies cached before the kill are not fetched again (big ones come in pieces, each counted)
    assert.ok(fetchedAgain <= MESSAGES - cachedAtKill + 30, `resumed sync fetched ${fetchedAgain} bodies, ${cachedAtKill} of ${MESSAGES} were cached`);
    assert.equal(await bodiesCached(data), MESSAGES);

    const third = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    assert.deepEqual(await pull(third.port), expected);
    const clean = await verify(data); // through the running proxy's socket
    assert.equal(clean.code, 0, JSON.stringify(clean.result));
    assert.equal(clean.result.bodies, MESSAGES);
    assert.equal(await third.stop(), 0);
  });

  test('kill -9 in the middle of a pull: the next pull is byte-identical', async () => {
    const expected = await pull(dovecot.port);
    const data = path.join(tmp, 'pull');
    const first = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    const interrupted = mbsyncPull(first.port, path.join(tmp, 'interrupted')).then(
      () => 'finished',
      () => 'failed',
    );
    await waitUntil('the pull is under way', async () => {
      const response = await adminRequest<{ totals: { bodies: number } }>(path.join(data, 'admin.sock'), { command: 'stats' });
      return (response?.ok && response.result.totals.bodies >= 20) || false;
    });
    await first.stop('SIGKILL');
    assert.equal(await interrupted, 'failed', 'the pull was cut off');

    const afterKill = await verify(data);
    assert.equal(afterKill.result.problemCount, 0, JSON.stringify(afterKill.result.problems));
    const second = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    assert.deepEqual(await pull(second.port), expected);
    assert.equal(await second.stop(), 0);
    assert.equal((await verify(data, '--repair')).code, 0);
    assert.equal((await verify(data)).code, 0, 'nothing left to repair');
  });

  test('kill -9 during an APPEND, mid-literal and right after it: consistent, and the pull is byte-identical', async () => {
    const data = path.join(tmp, 'append');
    const message = Buffer.concat([
      Buffer.from('From: a@example.org\r\nTo: test@example.org\r\nSubject: appended while killed\r\nMessage-ID: <kill@example.org>\r\n\r\n'),
      Buffer.from(randomBytes(6 * 1024 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n')),
      Buffer.from('\r\n'),
    ]);
    for (const cut of ['mid-literal', 'after-literal']) {
      const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
      const c = await RawImapClient.connect(proxy.port);
      await c.login();
      c.write(`A1 APPEND INBOX {${message.length}}\r\n`);
      await c.readResponse(); // + continuation
      c.write(cut === 'mid-literal' ? message.subarray(0, message.length / 2) : Buffer.concat([message, Buffer.from('\r\n')]));
      if (cut === 'after-literal') await new Promise((resolve) => setTimeout(resolve, 30));
      await proxy.stop('SIGKILL');
      c.close();
      const { result } = await verify(data);
      assert.equal(result.problemCount, 0, `${cut}: ${JSON.stringify(result.problems)}`);
    }
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    assert.deepEqual(await pull(proxy.port), await pull(dovecot.port));
    assert.equal(await proxy.stop(), 0);
  });

  test('SIGTERM with 50 sessions idling, gone mid-IDLE, fetching without reading, mid-APPEND literal: BYE, exit 0 within 2 s, cache consistent', async () => {
    const data = path.join(tmp, 'sigterm');
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    const session = async () => {
      const c = await RawImapClient.connect(proxy.port);
      await c.login();
      await c.command('SELECT INBOX');
      return c;
    };
    const idling = await Promise.all(Array.from({ length: 15 }, async () => {
      const c = await session();
      await c.idle();
      return c;
    }));
    // clients that went away while idling (imap-core keeps a 30-minute timer for each)
    for (const c of await Promise.all(Array.from({ length: 10 }, session))) {
      await c.idle();
      c.close();
    }
    // clients that asked for every body and read none of it
    const fetching = await Promise.all(Array.from({ length: 10 }, async () => {
      const c = await session();
      c.write('F1 FETCH 1:* (BODY.PEEK[])\r\n');
      c.pause();
      return c;
    }));
    const appending = await Promise.all(Array.from({ length: 10 }, async () => {
      const c = await session();
      c.write('A1 APPEND INBOX {100000}\r\n');
      await c.readResponse();
      c.write(Buffer.alloc(40_000, 'a'));
      return c;
    }));
    const loggedIn = await Promise.all(Array.from({ length: 5 }, session));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const code = await proxy.stop('SIGTERM');
    const ms = Date.now() - started;
    assert.equal(code, 0, proxy.output().slice(-2000));
    assert.ok(ms < 2000, `exited ${ms} ms after SIGTERM`);
    assert.doesNotMatch(proxy.output(), /shutdown not finished in time/, 'an orderly shutdown, not the deadline');
    assert.match(await idling[0]!.waitFor(/^\* BYE/, 1000), /BYE/);
    for (const c of [...idling, ...fetching, ...appending, ...loggedIn]) c.close();
    const { result } = await verify(data);
    assert.equal(result.problemCount, 0, JSON.stringify(result.problems));
  });

  test('cache verify finds broken bodies, unreferenced chunks and stray data, and --repair drops them', async () => {
    const expected = await pull(dovecot.port);
    const data = path.join(tmp, 'damaged');
    const proxy = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    assert.deepEqual(await pull(proxy.port), expected);
    assert.equal(await proxy.stop(), 0);
    const intact = await verify(data);
    assert.equal(intact.code, 0, JSON.stringify(intact.result));

    // damage the stopped proxy's cache the way a failing disk or a bug would
    const meta = new Level<string, Buffer>(path.join(data, 'cache', 'meta'), { valueEncoding: 'buffer' });
    const bodies = new Level<string, Buffer>(path.join(data, 'cache', 'bodies'), { valueEncoding: 'buffer' });
    const fullBodies: { key: string; chunks: number[] }[] = [];
    for await (const [key, value] of meta.iterator({ gte: 'x!', lt: prefixEnd('x!') })) {
      if (key.includes('!h!') && key.endsWith(`!${FULL_BODY}`)) {
        const chunks = decodeSection(value).chunks.flatMap((r) => Array.from({ length: r.count }, (_, i) => r.start + i));
        fullBodies.push({ key, chunks });
      }
    }
    const big = fullBodies.find((b) => b.chunks.length > 2) as { key: string; chunks: number[] };
    await bodies.del((big.chunks[1] as number).toString(16).padStart(12, '0')); // a chunk lost
    const small = fullBodies.find((b) => b.chunks.length === 1) as { key: string; chunks: number[] };
    const smallRecord = decodeSection((await meta.get(small.key)) as Buffer);
    await meta.put(small.key, encodeSection({ ...smallRecord, length: smallRecord.length - 7 })); // a body cut short
    let lastChunk = 0;
    for await (const key of bodies.keys({ reverse: true, limit: 1 })) lastChunk = parseInt(key, 16);
    await bodies.put((lastChunk + 1).toString(16).padStart(12, '0'), Buffer.alloc(1000)); // a chunk nothing refers to
    await meta.put(keys.meta('0123456789abcdef', 1), JSON.stringify({ f: [], m: '1', s: 1, d: new Date().toISOString() }) as never); // stray
    await meta.close();
    await bodies.close();

    const found = await verify(data);
    assert.equal(found.code, 2, 'problems found: exit code 2');
    assert.equal(found.result.problemCount, 2, JSON.stringify(found.result.problems));
    assert.deepEqual(found.result.problems.map((p) => p.problem).sort(), [
      `${smallRecord.length - 7} bytes cached, RFC822.SIZE is ${smallRecord.length}`,
      `chunk 2 of ${big.chunks.length} is missing`,
    ].sort());
    assert.equal(found.result.orphanChunks, 1);
    assert.equal(found.result.strayGenerations, 1);
    const text = await cli(['cache', 'verify', '--data', data]);
    assert.match(text.stdout, /2 broken section\(s\), 1 unreferenced chunk\(s\), 1 folder generation\(s\) without a folder/);
    assert.match(text.stdout, /--repair/);

    const repaired = await verify(data, '--repair');
    assert.equal(repaired.code, 0);
    assert.equal(repaired.result.repaired, true);
    const clean = await verify(data);
    assert.equal(clean.code, 0, JSON.stringify(clean.result));
    assert.equal(clean.result.bodies, MESSAGES - 2);

    // the dropped bodies come from upstream again, whole
    const again = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'off']);
    assert.deepEqual(await pull(again.port), expected);
    assert.equal(await again.stop(), 0);
    assert.equal(await bodiesCached(data), MESSAGES);
    assert.equal((await verify(data)).code, 0);
  });

  // (last: it delivers new mail)
  test('a restart of the background sync of headers finds what is missing from the cache keys: only new mail is fetched', async () => {
    const data = path.join(tmp, 'headers');
    const prefetchDone = async () => (await status(data)).accounts[0]?.prefetch?.state === 'done';
    const first = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'headers']);
    await login(first);
    await waitUntil('the background sync is done', prefetchDone);
    assert.equal(await first.stop(), 0);
    await dovecot.waitSessionsClosed();
    const headersFetched = async () => (await dovecot.sessionStats()).reduce((n, s) => n + s.hdrCount, 0);
    const before = await headersFetched();

    await deliver(dovecot.mailDir(), generateCorpus({ seed: 34, messages: 4, folders: 'INBOX:1' }));
    const second = await spawnProxy(['--upstream', upstream, '--data', data, '--prefetch', 'headers']);
    await login(second);
    await waitUntil('the background sync is done', prefetchDone);
    assert.equal(await second.stop(), 0);
    const complete = second.output().split('\n').find((line) => line.includes('"background sync complete"'));
    assert.match(complete ?? '', /"fetchedMessages":"4\/4"/, 'only the new messages were missing');
    await dovecot.waitSessionsClosed();
    assert.equal((await headersFetched()) - before, 4, 'their header blocks were fetched, no other');
  });
});
