import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SharedLogins } from '../../src/sync/shared-logins.js';

const later = <T>() => Promise.withResolvers<T>();

describe('SharedLogins', () => {
  test('logins with the password of the one under way share its outcome, its failure too', async () => {
    const queue = new SharedLogins<string>();
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

  test('another password does not wait for the login under way (a wrong one would hold up the right one); other accounts neither', async () => {
    const queue = new SharedLogins<string>();
    const first = later<string>();
    const order: string[] = [];
    const one = queue.run('a', 'wrong', () => (order.push('wrong'), first.promise));
    const two = queue.run('a', 'right', async () => (order.push('right'), 'account'));
    const other = queue.run('b', 'wrong', async () => (order.push('b'), 'other'));
    assert.equal(await two, 'account');
    assert.equal(await other, 'other');
    assert.deepEqual(order, ['wrong', 'right', 'b']);
    first.reject(new Error('wrong password'));
    await assert.rejects(one, /wrong password/);
  });
});
