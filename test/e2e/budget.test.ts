// The background sync's daily download budget: it pauses when the day's bytes are spent, a
// client's FETCH is still served (and counted), `status` shows both, and the day's count
// survives a restart.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { adminRequest } from '../../src/admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type AccountStatus, type StatusResult } from '../../src/admin/protocol.js';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { connectClient, startTestProxy, type TestProxy } from '../support/proxy.js';
import { pullDigests } from '../support/pull.js';
import { tempDir } from '../support/temp-dir.js';

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
const corpus = [...generateCorpus({ seed: 31, messages: 60, folders: 'INBOX:2,Archive:1', bigFraction: 0 })];
await deliver(dovecot.mailDir(), corpus);
const total = corpus.reduce((sum, message) => sum + message.size, 0);
const largest = Math.max(...corpus.map((message) => message.size));
// a third of the mail a day
const BUDGET = Math.floor(total / 3);
const dataDir = await tempDir('imapcp-budget-');

async function accountStatus(proxy: TestProxy): Promise<AccountStatus> {
  const response = await adminRequest<StatusResult>(path.join(proxy.dataDir, ADMIN_SOCKET_NAME), { command: 'status' });
  assert.ok(response?.ok, 'status answered');
  const account = response.result.accounts[0];
  assert.ok(account, 'the account is listed');
  return account;
}

async function until(proxy: TestProxy, done: (account: AccountStatus) => boolean, what: string): Promise<AccountStatus> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const account = await accountStatus(proxy);
    if (done(account)) return account;
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(account)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the daily download budget', () => {
  let counted = 0;

  test('the background sync pauses when the day\'s budget is spent; a client\'s fetches are served past it', async () => {
    const proxy = await startTestProxy(dovecot, { dataDir, prefetch: 'all', prefetchBudget: String(BUDGET) });
    (await connectClient(proxy.port)).close(); // a login starts the background sync
    const paused = await until(proxy, (a) => a.prefetch?.state === 'paused', 'the sync pauses');
    assert.equal(paused.downloaded.budget, BUDGET);
    assert.ok(paused.downloaded.bytes <= BUDGET, `${paused.downloaded.bytes} bytes downloaded, within the budget`);
    assert.ok(paused.downloaded.bytes > BUDGET - 2 * largest, `${paused.downloaded.bytes} bytes downloaded, about the budget`);
    assert.ok(paused.cached.bodies < paused.cached.messages, 'bodies are left for the next day');
    const resumesAt = new Date(paused.prefetch?.resumesAt as string);
    assert.equal(resumesAt.getHours() + resumesAt.getMinutes() + resumesAt.getSeconds(), 0, 'the sync goes on at midnight');
    assert.ok(proxy.logs.some((l) => l['msg'] === "background sync paused: the day's download budget is spent" && l['budgetBytes'] === BUDGET));

    // a client gets every body, the ones the sync left too
    assert.deepEqual(await pullDigests(proxy.port), await pullDigests(dovecot.port));
    const after = await accountStatus(proxy);
    assert.equal(after.prefetch?.state, 'paused');
    assert.ok(after.downloaded.bytes > BUDGET, 'the client\'s fetches are counted, and served past the budget');
    assert.equal(after.cached.bodies, after.cached.messages);
    assert.ok(after.downloaded.bytes <= after.cached.totalBytes, `${after.downloaded.bytes} of ${after.cached.totalBytes} bytes: each body fetched once`);
    counted = after.downloaded.bytes;
    await proxy.close();
  });

  test('after a restart the same day, the count goes on: the sync stays paused', async () => {
    const proxy = await startTestProxy(dovecot, { dataDir, prefetch: 'all', prefetchBudget: String(BUDGET) });
    (await connectClient(proxy.port)).close();
    const account = await until(proxy, (a) => a.prefetch?.state === 'paused' || a.prefetch?.state === 'done', 'the sync pauses');
    assert.equal(account.prefetch?.state, 'paused');
    assert.equal(account.downloaded.bytes, counted);
    await proxy.close();
  });
});
