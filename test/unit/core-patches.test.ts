import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { applyCorePatches } from '../../src/imap/core-patches.js';

const require = createRequire(import.meta.url);
const handlerOf = (file: string) => (require(`@zone-eu/wildduck/imap-core/lib/commands/${file}.js`) as { handler: unknown }).handler;
const connectionProto = () => (require('@zone-eu/wildduck/imap-core/lib/imap-connection.js') as { IMAPConnection: { prototype: Record<string, unknown> } }).IMAPConnection.prototype;

test('the patches are applied once however often asked, as two servers in one process do', () => {
  const original = handlerOf('search');
  applyCorePatches(() => undefined);
  const patched = { search: handlerOf('search'), list: handlerOf('list'), startSession: connectionProto()['_startSession'] };
  assert.notEqual(patched.search, original);
  applyCorePatches(() => undefined);
  assert.equal(handlerOf('search'), patched.search);
  assert.equal(handlerOf('list'), patched.list);
  assert.equal(connectionProto()['_startSession'], patched.startSession);
});
