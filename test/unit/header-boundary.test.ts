import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeaderBoundaryScanner, headerLengthOf } from '../../src/cache/header-boundary.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** Runs a scanner over the pieces, as SectionWriter does, and returns its answer. */
function scan(pieces: readonly Buffer[]): number {
  const scanner = new HeaderBoundaryScanner();
  for (const piece of pieces) scanner.push(piece);
  return scanner.headerLength;
}

describe('headerLengthOf', () => {
  test('CRLF CRLF ends the header just past the empty line', () => {
    assert.equal(headerLengthOf(bytes('Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n')), 26);
  });

  test('bare LF LF ends the header too', () => {
    assert.equal(headerLengthOf(bytes('Subject: hi\nFrom: a@b\n\nbody\n')), 23);
  });

  test('mixed line ends: CRLF then LF, and LF then CRLF', () => {
    assert.equal(headerLengthOf(bytes('A: 1\r\n\nbody')), 7);
    assert.equal(headerLengthOf(bytes('A: 1\n\r\nbody')), 7);
  });

  test('a message starting with an empty line has an empty header block', () => {
    assert.equal(headerLengthOf(bytes('\r\nbody\r\n\r\nmore')), 2);
    assert.equal(headerLengthOf(bytes('\nbody\n\nmore')), 1);
  });

  test('a message without an empty line is all header', () => {
    const message = bytes('Subject: hi\r\nFrom: a@b\r\n');
    assert.equal(headerLengthOf(message), message.length);
    assert.equal(scan([message]), -1);
    assert.equal(headerLengthOf(Buffer.alloc(0)), 0);
  });

  test('only the first empty line counts', () => {
    assert.equal(headerLengthOf(bytes('A: 1\r\n\r\n\r\n\r\n')), 8);
  });

  test('a CR that is not followed by LF does not end a line', () => {
    // "\r\r\n" is no empty line: the line is "\r" followed by a line end
    assert.equal(headerLengthOf(bytes('A: 1\r\n\r\r\nB: 2\r\n\r\nbody')), 17);
    assert.equal(headerLengthOf(bytes('A: 1\r\n\r B\r\n\r\n')), 13);
    assert.equal(headerLengthOf(bytes('A: 1\r\rB: 2\r\n')), 12);
  });

  test('8-bit bytes in the header are skipped like any others', () => {
    const message = Buffer.concat([bytes('Subject: '), Buffer.from([0xc3, 0xa9, 0xff, 0x00]), bytes('\r\n\r\nbody')]);
    assert.equal(headerLengthOf(message), 17);
  });
});

describe('HeaderBoundaryScanner', () => {
  test('stays at -1 until the empty line arrives, then keeps its answer', () => {
    const scanner = new HeaderBoundaryScanner();
    scanner.push(bytes('A: 1\r\n'));
    assert.equal(scanner.headerLength, -1);
    scanner.push(bytes('\r\n'));
    assert.equal(scanner.headerLength, 8);
    scanner.push(bytes('\r\n\r\nbody\n\n'));
    assert.equal(scanner.headerLength, 8);
  });

  test('empty pieces change nothing', () => {
    const empty = Buffer.alloc(0);
    assert.equal(scan([empty, bytes('A: 1\r'), empty, bytes('\n\r'), empty, bytes('\nbody')]), 8);
  });

  // The scanner keeps state across pieces: every split of the same bytes must give one answer.
  const messages = [
    'Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n\r\n',
    'Subject: hi\nFrom: a@b\n\nbody\n\n',
    '\r\nbody\r\n\r\n',
    '\nbody',
    'A: 1\r\n\r\r\nB: 2\r\n\r\nbody',
    'A: 1\r\n\nB',
    'A: 1\n\r\nB',
    'X: folded\r\n continued\r\n\tagain\r\n\r\n',
    'all header\r\nno empty line\r\n',
    'A: 1\r\rB\r\r\n',
  ];

  for (const text of messages) {
    const message = bytes(text);
    const whole = scan([message]);

    test(`same boundary for every split of ${JSON.stringify(text)}`, () => {
      for (let i = 0; i <= message.length; i++) {
        for (let j = i; j <= message.length; j++) {
          const pieces = [message.subarray(0, i), message.subarray(i, j), message.subarray(j)];
          assert.equal(scan(pieces), whole, `split at ${i} and ${j}`);
        }
      }
      const oneByteEach = Array.from(message, (byte) => Buffer.from([byte]));
      assert.equal(scan(oneByteEach), whole, 'one byte per piece');
    });
  }
});
