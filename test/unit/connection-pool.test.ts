import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ProxyError } from '../../src/model/errors.js';
import { ConnectionPool, Priority } from '../../src/upstream/connection-pool.js';
import type { UpstreamConnection } from '../../src/upstream/upstream-connection.js';
import { FakeFolder } from '../support/fake-upstream.js';
import { holdEventLoop } from '../support/event-loop.js';

const log = pino({ level: 'silent' });

/** A pool of fake connections to one folder; `connects` counts them. */
function pool(size: number, folder = new FakeFolder()) {
  const made = { connects: 0 };
  const p = new ConnectionPool(async () => (made.connects++, folder.connection()), size, log);
  return { pool: p, made, folder };
}

/** Work that holds its connection until `release` is called; resolves with the connection when it runs. */
function held() {
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<UpstreamConnection>();
  const work = async (conn: UpstreamConnection) => {
    started.resolve(conn);
    await release.promise;
  };
  return { work, started: started.promise, release: () => release.resolve() };
}

/** A pool of one connection, busy with held work until `release`: what is asked of it next queues. */
async function busyPool() {
  const { pool: p } = pool(1);
  const blocker = held();
  const running = p.run({ priority: Priority.Client }, blocker.work);
  await blocker.started;
  return { pool: p, running, release: blocker.release };
}

describe('ConnectionPool', () => {
  holdEventLoop();

  test('connections open on demand, are reused, and work on a folder selects it once', async () => {
    const { pool: p, made, folder } = pool(2);
    await p.run({ folder: 'INBOX', priority: Priority.Client }, async () => undefined);
    await p.run({ folder: 'INBOX', priority: Priority.Client }, async (_conn, opened) => assert.equal(opened, null, 'already selected'));
    assert.equal(made.connects, 1);
    assert.deepEqual(folder.calls.map((c) => c.command), ['open']);
    await p.close();
  });

  test('background work never takes the last connection: a client is served while it runs', async () => {
    const { pool: p } = pool(3);
    const jobs = [held(), held(), held()];
    const runs = jobs.map((job) => p.run({ priority: Priority.Background }, job.work));
    await Promise.all([jobs[0]?.started, jobs[1]?.started]);
    let third = false;
    void jobs[2]?.started.then(() => (third = true));
    await p.run({ priority: Priority.Client }, async () => undefined);
    await sleep(20);
    assert.equal(third, false, 'the third background job waits');
    jobs.forEach((job) => job.release());
    await Promise.all(runs);
    await p.close();
  });

  test('queued work goes by priority: client, then read-ahead, then background', async () => {
    const { pool: p, running, release } = await busyPool();
    const order: string[] = [];
    const queued = [
      p.run({ priority: Priority.Background }, async () => void order.push('background')),
      p.run({ priority: Priority.ReadAhead }, async () => void order.push('read-ahead')),
      p.run({ priority: Priority.Client }, async () => void order.push('client')),
    ];
    release();
    await Promise.all([running, ...queued]);
    assert.deepEqual(order, ['client', 'read-ahead', 'background']);
    await p.close();
  });

  test('promote moves queued read-ahead work ahead of the read-ahead queued before it', async () => {
    const { pool: p, running, release } = await busyPool();
    const order: string[] = [];
    const request = { priority: Priority.ReadAhead };
    const earlier = p.run({ priority: Priority.ReadAhead }, async () => void order.push('earlier read-ahead'));
    const promoted = p.run(request, async () => void order.push('promoted'));
    p.promote(request);
    release();
    await Promise.all([running, earlier, promoted]);
    assert.deepEqual(order, ['promoted', 'earlier read-ahead']);
    await p.close();
  });

  test('a failed connect fails one waiting request; the next ones fail at once until it is tried again', async () => {
    let connects = 0;
    const p = new ConnectionPool(
      async () => {
        connects++;
        throw new ProxyError('UPSTREAM_UNAVAILABLE', 'connection refused');
      },
      2,
      log,
    );
    await assert.rejects(p.run({ priority: Priority.Client }, async () => undefined), /connection refused/);
    assert.equal(p.reachable, false);
    await assert.rejects(p.run({ priority: Priority.Client }, async () => undefined), /unreachable/);
    assert.equal(connects, 1, 'no second connect within the retry pause');
    await p.close();
  });

  test('a connect refused while connections are open is upstream\'s limit: the waiting work runs on those, the pool stays online', async () => {
    const folder = new FakeFolder();
    let connects = 0;
    const p = new ConnectionPool(
      async () => {
        if (++connects > 1) throw new ProxyError('UPSTREAM_THROTTLED', 'upstream refused the connection: Too many simultaneous connections');
        return folder.connection();
      },
      3,
      log,
    );
    const blocker = held();
    const running = p.run({ priority: Priority.Client }, blocker.work);
    await blocker.started;
    const waiting = p.run({ priority: Priority.Client }, async () => 'served');
    await sleep(10);
    assert.equal(connects, 2, 'a second connection was tried');
    assert.equal(p.reachable, true);
    assert.equal(p.capacity, 1);
    assert.ok((p.limitedUntil ?? 0) > Date.now());
    blocker.release();
    assert.equal(await waiting, 'served');
    await running;
    await p.run({ priority: Priority.Background }, async () => undefined);
    assert.equal(connects, 2, 'no connect while the limit holds');
    await p.close();
  });

  test('while upstream asks for a pause, background work waits and a client\'s runs', async () => {
    const { pool: p } = pool(3);
    await p.run({ priority: Priority.Client }, async () => undefined);
    p.backoff.throttled(100, 'UID FETCH');
    const order: string[] = [];
    const background = p.run({ priority: Priority.Background }, async () => void order.push('background'));
    await p.run({ priority: Priority.Client }, async () => void order.push('client'));
    await background;
    assert.deepEqual(order, ['client', 'background']);
    await p.close();
  });

  test('close fails what waits and closes every connection', async () => {
    const { pool: p } = pool(1);
    const blocker = held();
    const running = p.run({ priority: Priority.Client }, blocker.work);
    const conn = await blocker.started;
    const waiting = p.run({ priority: Priority.Background }, async () => undefined);
    const closed = p.close();
    await assert.rejects(waiting, /shutting down/);
    blocker.release();
    await running;
    await closed;
    assert.equal(conn.usable, false);
  });
});
