import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
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

test("imap-core's output stream writes a line and its CRLF to the socket in one write, in order with what it pipes", async () => {
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
  composer.write({ compiled: Buffer.from('* 1 FETCH (BODY[] {5}') });
  composer.write(Readable.from([Buffer.from('\r\nab'), Buffer.from('c)')]));
  composer.write({ compiled: Buffer.from('a1 OK FETCH completed') });
  await new Promise((resolve) => composer.end(resolve));
  assert.deepEqual(writes, ['* 1 FETCH (BODY[] {5}\r\n', '\r\nab', 'c)', '\r\n', 'a1 OK FETCH completed\r\n']);
});

test('imap-core compiles nothing for a log entry, and responses as before', () => {
  applyCorePatches(() => undefined);
  const { compiler } = require('@zone-eu/wildduck/imap-core/lib/handler/imap-handler.js') as { compiler(response: unknown, asArray?: boolean, isLogging?: boolean): string };
  const response = { tag: 'A1', command: 'OK', attributes: [{ type: 'SECTION', section: [{ type: 'TEXT', value: 'UIDNEXT 5' }] }, { type: 'TEXT', value: 'done' }] };
  assert.equal(compiler(response, false, true), '');
  assert.equal(compiler(response), 'A1 OK [UIDNEXT 5] done');
});
