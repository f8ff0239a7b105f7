import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { structureNodes } from '../../src/cache/body-structure.js';
import { decodePartIndex, encodePartIndex, partIndexFault, partIndexOf, partRange, type PartIndex } from '../../src/cache/part-index.js';
import { PartScanner, type ScanResult } from '../../src/cache/part-scanner.js';

const text = (size: number) => `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ${size} 1 NIL NIL NIL NIL)`;

// a multipart/mixed of a text part and a message/rfc822 that holds one text part
const MESSAGE =
  'Subject: outer\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\npreamble\r\n' +
  '--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n' +
  '--b  \r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n' +
  '--b--\r\nepilogue\r\n';
const INNER = 'Subject: inner\r\n\r\ninner body';
const STRUCTURE =
  `(${text(5)}("message" "rfc822" NIL NIL NIL "7bit" ${INNER.length} ("date" "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ${text(10)} 2 NIL NIL NIL NIL) ` +
  '"mixed" ("boundary" "b") NIL NIL NIL)';

function scan(structure: string, message: string, pieceSize = message.length): ScanResult {
  const scanner = new PartScanner(structureNodes(Buffer.from(structure)));
  const bytes = Buffer.from(message);
  for (let at = 0; at < bytes.length; at += pieceSize) scanner.push(bytes.subarray(at, at + pieceSize));
  return scanner.finish(bytes.length);
}

function index(structure: string, message: string): PartIndex {
  const result = scan(structure, message);
  assert.ok('spans' in result, JSON.stringify(result));
  return partIndexOf(structureNodes(Buffer.from(structure)), result.spans);
}

const cut = (range: { start: number; end: number } | undefined) => (range ? MESSAGE.slice(range.start, range.end) : undefined);

describe('the BODYSTRUCTURE reader', () => {
  test('reads multiparts, boundaries, sizes and encapsulated messages in pre-order', () => {
    const nodes = structureNodes(Buffer.from(STRUCTURE));
    assert.deepEqual(nodes.map((n) => [n.kind, n.type, n.subtype, n.size, n.next]), [
      ['multipart', 'multipart', 'mixed', undefined, 4],
      ['leaf', 'text', 'plain', 5, 2],
      ['message', 'message', 'rfc822', INNER.length, 4],
      ['leaf', 'text', 'plain', 10, 4],
    ]);
    assert.equal(nodes[0]?.boundary?.toString(), 'b');
  });

  test('reads literals and escaped quotes as bytes', () => {
    const raw = Buffer.from('(("text" "plain" ("name" {4}\r\nx"y)) NIL NIL "7bit" 3 1 NIL NIL NIL NIL) "mixed" ("BOUNDARY" "q\\"\\\\z") NIL NIL NIL)');
    assert.equal(structureNodes(raw)[0]?.boundary?.toString(), 'q"\\z');
  });

  test('refuses what is not a body', () => {
    for (const raw of ['NIL', '("text" "plain" NIL NIL NIL "7bit" NIL 1)', '((', '']) assert.throws(() => structureNodes(Buffer.from(raw)), raw);
  });
});

describe('the part scanner', () => {
  test('finds each part, the same whatever pieces the bytes come in', () => {
    const whole = scan(STRUCTURE, MESSAGE);
    assert.ok('spans' in whole);
    for (const size of [1, 2, 3, 7, 64]) assert.deepEqual(scan(STRUCTURE, MESSAGE, size), whole, `pieces of ${size}`);
  });

  test('says so where a size differs from upstream\'s', () => {
    const result = scan(STRUCTURE.replace(`"7bit" 5 `, '"7bit" 6 '), MESSAGE);
    assert.ok('mismatch' in result && /upstream counts 6/.test(result.mismatch));
  });

  test('says so where there are more parts than upstream names, or fewer', () => {
    assert.ok('mismatch' in scan(`(${text(5)} "mixed" ("boundary" "b") NIL NIL NIL)`, MESSAGE));
    const three = `(${text(5)}${text(5)}${text(5)} "mixed" ("boundary" "b") NIL NIL NIL)`;
    assert.ok('mismatch' in scan(three, MESSAGE));
  });

  test('a part without a close delimiter runs to the end; bare LF line ends', () => {
    const lf = 'Content-Type: multipart/mixed; boundary="z"\n\n--z\n\none\n--z\nContent-Type: text/plain\n\ntwo\n';
    const result = index(`(${text(3)}${text(4)} "mixed" ("boundary" "z") NIL NIL NIL)`, lf);
    const part = (p: string, type = 'content') => {
      const r = partRange(result, p, type);
      return r && lf.slice(r.start, r.end);
    };
    assert.equal(part('1'), 'one');
    assert.equal(part('1', 'mime'), '\n');
    assert.equal(part('2'), 'two\n');
    assert.equal(part('2', 'mime'), 'Content-Type: text/plain\n\n');
  });
});

describe('part numbers', () => {
  const parts = index(STRUCTURE, MESSAGE);

  test('name the parts as RFC 3501 does, down into an encapsulated message', () => {
    assert.equal(cut(partRange(parts, '1', 'content')), 'hello');
    assert.equal(cut(partRange(parts, '1', 'mime')), 'Content-Type: text/plain\r\n\r\n');
    assert.equal(cut(partRange(parts, '2', 'content')), INNER);
    assert.equal(cut(partRange(parts, '2', 'header')), 'Subject: inner\r\n\r\n');
    assert.equal(partRange(parts, '2', 'header.fields')?.headerBlock, true);
    assert.equal(cut(partRange(parts, '2', 'text')), 'inner body');
    assert.equal(cut(partRange(parts, '2.1', 'content')), 'inner body');
    assert.equal(cut(partRange(parts, '2.1', 'mime')), 'Subject: inner\r\n\r\n');
  });

  test('as Dovecot walks them: a leaf is its own part 1, nothing is below it, HEADER of a leaf is empty', () => {
    assert.equal(cut(partRange(parts, '1.1', 'content')), 'hello');
    for (const [path, type] of [['1.1.1', 'content'], ['3', 'content'], ['3', 'mime'], ['1', 'header'], ['1', 'text'], ['2.2', 'content']]) {
      assert.deepEqual(partRange(parts, path as string, type as string), { start: 0, end: 0 }, `${path} ${type}`);
    }
    assert.equal(partRange(parts, '0', 'content'), undefined);
    assert.equal(partRange(parts, '1', 'binary'), undefined);
  });

  test('survive their record, and a record that does not fit the body is refused', () => {
    const decoded = decodePartIndex(encodePartIndex(parts));
    assert.deepEqual(decoded, parts);
    assert.equal(partIndexFault(decoded, MESSAGE.length), undefined);
    assert.match(partIndexFault(decoded, 10) ?? '', /outside the body/);
    assert.throws(() => decodePartIndex(Buffer.from([1, 1, 0])));
  });
});
