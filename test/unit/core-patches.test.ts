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

/** imap-core's output stream of a connection, piped into a socket that records its writes (`slow`: each done a turn later). */
function outputInto(options: { highWaterMark?: number; slow?: boolean } = {}) {
  applyCorePatches(() => undefined);
  const { IMAPComposer } = require('@zone-eu/wildduck/imap-core/lib/imap-composer.js') as { IMAPComposer: new (options: object) => import('node:stream').Transform };
  const writes: string[] = [];
  const later = (done: () => void) => (options.slow ? setImmediate(done) : done());
  const socket = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      later(done);
    },
  });
  const logger = { debug: () => undefined };
  const composer = new IMAPComposer({ connection: { _socket: socket, logger, id: 'test' }, skipFetchLog: true });
  composer.pipe(socket);
  const ended = () => new Promise((resolve) => composer.end(() => socket.once('finish', resolve)));
  return { composer, socket, writes, ended };
}

test("imap-core's output stream sends the lines of one turn of the event loop in one write, and a literal it streams in order with them", async () => {
  const { composer, writes, ended } = outputInto();
  composer.write({ compiled: Buffer.from('* 1 EXISTS') });
  composer.write({ compiled: Buffer.from('* 1 RECENT') });
  composer.write({ compiled: Buffer.from('a1 OK NOOP completed') });
  await new Promise((resolve) => setImmediate(resolve));
  composer.write({ compiled: Buffer.from('* 1 FETCH (BODY[] {3}') });
  composer.write(Readable.from([Buffer.from('ab'), Buffer.from('c)')]));
  composer.write({ compiled: Buffer.from('a2 OK FETCH completed') });
  await ended();
  assert.deepEqual(writes, ['* 1 EXISTS\r\n* 1 RECENT\r\na1 OK NOOP completed\r\n', '* 1 FETCH (BODY[] {3}\r\n', 'ab', 'c)', '\r\na2 OK FETCH completed\r\n']);
});

test("imap-core's output stream joins the responses it compiles itself (a burst of notifications) with the lines of the same turn", async () => {
  const { composer, writes, ended } = outputInto();
  // as imap-core's emitNotifications writes them: response objects, not compiled lines
  composer.write({ tag: '*', command: '3', attributes: [{ type: 'atom', value: 'EXPUNGE' }] });
  composer.write({ tag: '*', command: '5', attributes: [{ type: 'atom', value: 'EXPUNGE' }] });
  composer.write({ tag: '*', command: '7', attributes: [{ type: 'atom', value: 'FETCH' }, [{ type: 'atom', value: 'FLAGS' }, [{ type: 'atom', value: '\\Seen' }]]] });
  composer.write({ compiled: Buffer.from('* 9 EXISTS') });
  composer.write({ compiled: 'a1 OK NOOP completed' });
  await ended();
  assert.deepEqual(writes, ['* 3 EXPUNGE\r\n* 5 EXPUNGE\r\n* 7 FETCH (FLAGS (\\Seen))\r\n* 9 EXISTS\r\na1 OK NOOP completed\r\n']);
});

test("imap-core's output stream keeps a streamed literal behind the lines queued while the socket is full", async () => {
  const { composer, writes, ended } = outputInto({ highWaterMark: 1, slow: true });
  const big = 'x'.repeat(100 * 1024);
  composer.write({ compiled: Buffer.from(`* 1 FETCH (BODY[HEADER] {${big.length}}\r\n${big})`) });
  composer.write({ compiled: Buffer.from('* 2 FETCH (BODY[] {3}') });
  composer.write(Readable.from([Buffer.from('abc'), Buffer.from(')')]));
  composer.write({ compiled: Buffer.from('a1 OK FETCH completed') });
  await ended();
  const sent = writes.join('');
  assert.equal(sent.replaceAll('x', ''), `* 1 FETCH (BODY[HEADER] {${big.length}}\r\n)\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\na1 OK FETCH completed\r\n`);
  assert.equal(sent, `* 1 FETCH (BODY[HEADER] {${big.length}}\r\n${big})\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\na1 OK FETCH completed\r\n`);
});

test("imap-core's output stream ends a literal whose client is gone instead of waiting for it", async () => {
  const { composer, socket } = outputInto({ highWaterMark: 1, slow: true });
  const literal = new Readable({ read() {} });
  literal.push(Buffer.from('abc'));
  composer.write(literal);
  const closed = new Promise((resolve) => literal.once('close', resolve));
  socket.destroy();
  await closed;
  assert.equal(literal.destroyed, true);
});

test('imap-core compiles nothing for a log entry, and responses as before', () => {
  applyCorePatches(() => undefined);
  const { compiler } = require('@zone-eu/wildduck/imap-core/lib/handler/imap-handler.js') as { compiler(response: unknown, asArray?: boolean, isLogging?: boolean): string };
  const response = { tag: 'A1', command: 'OK', attributes: [{ type: 'SECTION', section: [{ type: 'TEXT', value: 'UIDNEXT 5' }] }, { type: 'TEXT', value: 'done' }] };
  assert.equal(compiler(response, false, true), '');
  assert.equal(compiler(response), 'A1 OK [UIDNEXT 5] done');
});
