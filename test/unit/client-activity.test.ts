import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientActivity } from '../../src/sync/client-activity.js';

describe('ClientActivity', () => {
  test('quiet() resolves at once without client commands, else when the last one has ended', async () => {
    const clients = new ClientActivity();
    await clients.quiet();
    const first = clients.begin();
    const second = clients.begin();
    let quiet = false;
    const waiting = clients.quiet().then(() => (quiet = true));
    first();
    first(); // ending twice counts once
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(quiet, false, 'one command still runs');
    second();
    await waiting;
    assert.equal(quiet, true);
  });
});
