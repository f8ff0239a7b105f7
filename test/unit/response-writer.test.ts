import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ImapSession } from '../../src/imap/imap-core.js';
import { ResponseWriter, type ResponseSink } from '../../src/imap/fetch/response-writer.js';

/** A session whose output stream is slow: each write completes a turn of the event loop later, so the writer waits for drain. */
function slowSession(): { session: ImapSession; socket: EventEmitter & { destroyed: boolean }; written: () => number } {
  let bytes = 0;
  const socket = Object.assign(new EventEmitter(), { destroyed: false });
  const writeStream = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(item: { compiled?: Buffer } & AsyncIterable<Buffer>, _encoding, done) {
      if (item.compiled) {
        bytes += item.compiled.length;
        setImmediate(done);
        return;
      }
      void (async () => {
        for await (const chunk of item) bytes += chunk.length;
        setImmediate(done);
      })();
    },
  });
  const session = { id: 't', remoteAddress: '127.0.0.1', selected: false, writeStream, socket: socket as unknown as Socket } as ImapSession;
  return { session, socket, written: () => bytes };
}

describe('ResponseWriter', () => {
  test('waiting for the client to drain leaves no listener behind on its socket', async () => {
    const { session, socket, written } = slowSession();
    const writer = new ResponseWriter(session);
    const body = Buffer.alloc(100 * 1024, 'x');
    for (let i = 0; i < 50; i++) await writer.write([Buffer.from(`* ${i + 1} FETCH (BODY[] {${body.length}}\r\n`), body, Buffer.from(')')]);
    await writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(written() >= 50 * body.length, 'every response reached the stream');
    assert.equal(socket.listenerCount('close'), 0);
    assert.equal(socket.listenerCount('error'), 0);
    assert.equal(session.writeStream.listenerCount('drain'), 0);
  });

  test('add() takes a small response in memory without a wait, and leaves a streamed or too large one, or one that does not fit, to write()', async () => {
    const { session, written } = slowSession();
    const writer = new ResponseWriter(session);
    assert.equal(writer.add(['* 1 FETCH (UID 1 BODY[] {3}\r\n', Buffer.from('abc'), ')']), true);
    const stream = { length: 3, stream: Readable.from([Buffer.from('abc')]) };
    assert.equal(writer.add(['* 2 FETCH (BODY[] {3}\r\n', stream, ')']), false);
    assert.equal(writer.add([Buffer.alloc(64 * 1024)]), false);
    // what is joined so far leaves no room for 60 KB more: write() sends it first
    assert.equal(writer.add([Buffer.alloc(30 * 1024)]), true);
    const big = [Buffer.alloc(60 * 1024)];
    assert.equal(writer.add(big), false);
    await writer.write(big);
    await writer.flush();
    // non-ASCII text: its UTF-8 bytes are what must fit
    assert.equal(writer.add(['é'.repeat(40_000)]), false);
    assert.equal(writer.add(['é'.repeat(30_000)]), true);
    await writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(written(), 33 + 2 + 30 * 1024 + 60 * 1024 + 60_000);
  });

  test('render() puts a response straight into what is joined, numbers as digits, and sends what does not fit after it or on its own', async () => {
    const lines: string[] = [];
    const writeStream = new Writable({
      objectMode: true,
      write(item: { compiled?: Buffer } & AsyncIterable<Buffer>, _encoding, done) {
        if (item.compiled) {
          lines.push(item.compiled.toString('utf8'));
          done();
          return;
        }
        void (async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of item) chunks.push(chunk);
          lines.push(Buffer.concat(chunks).toString('utf8'));
          done();
        })();
      },
    });
    const socket = Object.assign(new EventEmitter(), { destroyed: false });
    const session = { id: 't', remoteAddress: '127.0.0.1', selected: false, writeStream, socket: socket as unknown as Socket } as ImapSession;
    const writer = new ResponseWriter(session);
    const fetch = (seq: number, body: Parameters<ResponseSink['bytes']>[0]) => (sink: ResponseSink) => {
      sink.text('* ');
      sink.number(seq);
      sink.text(' FETCH (UID ');
      sink.number(Number.MAX_SAFE_INTEGER);
      sink.text(' X-É {');
      sink.number(body.length);
      sink.text('}\r\n');
      sink.bytes(body);
      sink.text(')');
    };
    for (const seq of [0, 9, 10, 1234567890]) await writer.render(fetch(seq, Buffer.from('abc')));
    const big = 'y'.repeat(40 * 1024);
    await writer.render(fetch(5, Buffer.from(big))); // fits beside the four
    await writer.render(fetch(6, Buffer.from(big))); // does not: what is joined goes first
    const huge = 'z'.repeat(70 * 1024);
    await writer.render(fetch(7, Buffer.from(huge))); // larger than what is joined at most: on its own
    await writer.render(fetch(8, { length: 3, stream: Readable.from([Buffer.from('def')]) }));
    await writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const line = (seq: number, body: string) => `* ${seq} FETCH (UID ${Number.MAX_SAFE_INTEGER} X-É {${Buffer.byteLength(body)}}\r\n${body})`;
    const expected = [[...[0, 9, 10, 1234567890].map((seq) => line(seq, 'abc')), line(5, big)].join('\r\n'), line(6, big), line(7, huge), line(8, 'def')];
    assert.deepEqual(
      lines.map((text) => text.length),
      expected.map((text) => text.length),
    );
    assert.ok(lines.every((text, i) => text === expected[i]), 'the bytes written');
  });
});

