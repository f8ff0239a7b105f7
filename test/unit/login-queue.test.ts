import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoginQueue } from '../../src/sync/login-queue.js';

const later = <T>() => Promise.withResolvers<T>();

describe('LoginQueue', () => {
  test('logins with the password of the one under way share its outcome, its failure too', async () => {
    const queue = new LoginQueue<string>();
    const upstream = later<string>();
    let calls = 0;
    const login = () => (calls++, upstream.promise);
    const all = Promise.all([1, 2, 3].map(() => queue.run('a', 'pw', login)));
    upstream.resolve('account');
    assert.deepEqual(await all, ['account', 'account', 'account']);
    assert.equal(calls, 1);

    const refused = later<string>();
    const failing = [1, 2].map(() => queue.run('a', 'pw', () => (calls++, refused.promise)));
    refused.reject(new Error('refused'));
    for (const outcome of failing) await assert.rejects(outcome, /refused/);
    assert.equal(calls, 2);
  });

  test('another password waits until the login under way ends, then goes itself; other accounts do not wait', async () => {
    const queue = new LoginQueue<string>();
    const first = later<string>();
    const order: string[] = [];
    const one = queue.run('a', 'old', () => (order.push('old'), first.promise));
    const two = queue.run('a', 'new', async () => (order.push('new'), 'second'));
    const other = queue.run('b', 'old', async () => (order.push('b'), 'other'));
    assert.equal(await other, 'other');
    assert.deepEqual(order, ['old', 'b']);
    first.reject(new Error('wrong password'));
    await assert.rejects(one, /wrong password/);
    assert.equal(await two, 'second');
    assert.deepEqual(order, ['old', 'b', 'new']);
  });
});
