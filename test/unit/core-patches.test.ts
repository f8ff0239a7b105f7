import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
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

test("the lines imap-core's output stream sends in one turn of the event loop reach the socket in one write", async () => {
  applyCorePatches(() => undefined);
  const { IMAPComposer } = require('@zone-eu/wildduck/imap-core/lib/imap-composer.js') as { IMAPComposer: new (options: object) => import('node:stream').Transform };
  const writes: string[] = [];
  const socket = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
    writev(chunks, done) {
      writes.push(chunks.map(({ chunk }) => String(chunk)).join(''));
      done();
    },
  });
  const logger = { debug: () => undefined };
  const composer = new IMAPComposer({ connection: { _socket: socket, logger, id: 'test' }, skipFetchLog: true });
  composer.pipe(socket);
  composer.write({ compiled: Buffer.from('* 3 EXISTS') });
  composer.write({ compiled: Buffer.from('* 0 RECENT') });
  composer.write({ compiled: Buffer.from('a1 OK SELECT completed') });
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, ['* 3 EXISTS\r\n* 0 RECENT\r\na1 OK SELECT completed\r\n']);
});
