import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { isProxyError } from '../../src/model/errors.js';
import { TokenVault, vaultPath } from '../../src/sync/token-vault.js';
import { tempDir } from '../support/temp-dir.js';

describe('TokenVault', () => {
  test('opens with the local password only; the file holds neither the token nor the password', async () => {
    const dir = await tempDir('icp-vault-');
    const path = vaultPath(dir, 'abc');
    const grant = { refreshToken: 'refresh-SECRET-1', scope: 'mail', obtainedAt: 1 };
    await TokenVault.create(path, 'local pass', grant);
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes('refresh-SECRET-1') && !text.includes('local pass') && !text.includes(Buffer.from('refresh-SECRET-1').toString('base64')));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual((await TokenVault.open(path, 'local pass')).grant, grant);
    await assert.rejects(TokenVault.open(path, 'wrong'), (err) => isProxyError(err, 'UPSTREAM_AUTH_FAILED'));
  });

  test('a rotated refresh token is sealed with the same key; a missing vault asks for account login', async () => {
    const dir = await tempDir('icp-vault-');
    const path = vaultPath(dir, 'abc');
    const vault = await TokenVault.create(path, 'pw', { refreshToken: 'one', obtainedAt: 1 });
    await vault.save({ refreshToken: 'two', obtainedAt: 2 });
    assert.equal((await TokenVault.open(path, 'pw')).grant.refreshToken, 'two');
    await assert.rejects(TokenVault.open(vaultPath(dir, 'other'), 'pw'), (err) => isProxyError(err, 'UPSTREAM_TOKEN_REFUSED'));
  });
});
