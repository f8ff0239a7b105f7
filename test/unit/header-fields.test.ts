import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeaderFieldFilter } from '../../src/imap/fetch/header-fields.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** Feeds the pieces through a filter and joins everything it emits. */
function run(pieces: readonly Buffer[], names: readonly string[], exclude: boolean): string {
  // callers (fetch-plan.ts) pass the requested names uppercased
  const filter = new HeaderFieldFilter(new Set(names.map((name) => name.toUpperCase())), exclude);
  const out: Buffer[] = [];
  for (const piece of pieces) out.push(...filter.push(piece));
  out.push(...filter.end());
  return Buffer.concat(out).toString('latin1');
}

/** The same through select(), the path of a header block held in memory. */
const select = (block: Buffer, names: readonly string[], exclude: boolean) =>
  HeaderFieldFilter.select(block, new Set(names.map((name) => name.toUpperCase())), exclude).toString('latin1');

const fields = (text: string, ...names: string[]) => run([bytes(text)], names, false);
const fieldsNot = (text: string, ...names: string[]) => run([bytes(text)], names, true);

/**
 * The documented semantics written the simple way, line by line on the whole text: a field is a
 * line not starting with SP/HT plus its continuation lines; its name is what precedes the colon
 * (or the whole line), trailing whitespace dropped, compared case-insensitively.
 */
function model(text: string, names: readonly string[], exclude: boolean): string {
  const wanted = new Set(names.map((name) => name.toUpperCase()));
  let out = '';
  let include = false;
  let ended = false;
  for (const line of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if (line === '\r\n' || line === '\n') {
      ended = true;
      break;
    }
    if (line[0] !== ' ' && line[0] !== '\t') {
      const colon = line.indexOf(':');
      include = wanted.has((colon < 0 ? line : line.slice(0, colon)).trimEnd().toUpperCase()) !== exclude;
    }
    if (include) out += line;
  }
  return ended || !exclude ? `${out}\r\n` : out;
}

const HEADER = 'From: a@example.com\r\nTo: b@example.com\r\nsubject: hello\r\n  world\r\n\tagain\r\nX-Other: 1\r\n\r\nbody\r\n';

describe('HEADER.FIELDS', () => {
  test('keeps the named fields in their original order, with their continuation lines', () => {
    assert.equal(fields(HEADER, 'SUBJECT', 'FROM'), 'From: a@example.com\r\nsubject: hello\r\n  world\r\n\tagain\r\n\r\n');
  });

  test('names match case-insensitively, and a repeated field is kept every time', () => {
    const text = 'received: 1\r\nSubject: s\r\nRECEIVED: 2\r\n\r\n';
    assert.equal(fields(text, 'Received'), 'received: 1\r\nRECEIVED: 2\r\n\r\n');
  });

  test('a name must match whole, not as a prefix', () => {
    assert.equal(fields('From-Alias: x\r\nFromm: y\r\nFrom: z\r\n\r\n', 'FROM'), 'From: z\r\n\r\n');
  });

  test('whitespace between the name and the colon is ignored', () => {
    assert.equal(fields('Subject  : a\r\nSubject\t: b\r\nTo: c\r\n\r\n', 'SUBJECT'), 'Subject  : a\r\nSubject\t: b\r\n\r\n');
  });

  test('always ends with CRLF: nothing selected, no empty line, bare-LF header', () => {
    assert.equal(fields(HEADER, 'X-NOTHING'), '\r\n');
    assert.equal(fields('From: a\r\nTo: b\r\n', 'FROM'), 'From: a\r\n\r\n');
    assert.equal(fields('From: a\nTo: b\n\nbody', 'FROM'), 'From: a\n\r\n');
    assert.equal(fields('', 'FROM'), '\r\n');
  });

  test('a line without a colon is a field named by the whole line', () => {
    const text = 'From: a\r\nno colon here\r\n continued\r\nTo: b\r\n\r\n';
    assert.equal(fields(text, 'FROM', 'TO'), 'From: a\r\nTo: b\r\n\r\n');
    assert.equal(fields(text, 'NO COLON HERE'), 'no colon here\r\n continued\r\n\r\n');
  });

  test('stops at the empty line: nothing of the body is emitted', () => {
    assert.equal(fields('A: 1\r\n\r\nA: in the body\r\n', 'A'), 'A: 1\r\n\r\n');
  });
});

describe('HEADER.FIELDS.NOT', () => {
  test('keeps every other field, in order, with continuation lines', () => {
    assert.equal(fieldsNot(HEADER, 'to', 'x-other'), 'From: a@example.com\r\nsubject: hello\r\n  world\r\n\tagain\r\n\r\n');
  });

  test('ends with CRLF only when the header block had an empty line', () => {
    assert.equal(fieldsNot('From: a\r\nTo: b\r\n\r\n', 'TO'), 'From: a\r\n\r\n');
    assert.equal(fieldsNot('From: a\r\nTo: b\r\n', 'TO'), 'From: a\r\n');
    assert.equal(fieldsNot('From: a\nTo: b\n\n', 'TO'), 'From: a\n\r\n');
    assert.equal(fieldsNot('', 'TO'), '');
  });

  test('excluding every field leaves only the empty line', () => {
    assert.equal(fieldsNot('From: a\r\n b\r\n\r\n', 'FROM'), '\r\n');
  });

  test('keeps lines without a colon, including an unterminated last line', () => {
    assert.equal(fieldsNot('A: 1\r\nno colon\r\nB: 2\r\n\r\n', 'A'), 'no colon\r\nB: 2\r\n\r\n');
    assert.equal(fieldsNot('A: 1\r\nlast line', 'A'), 'last line');
    assert.equal(fieldsNot('A: 1\r\nlast line', 'LAST LINE'), 'A: 1\r\n');
  });

  test('8-bit bytes pass through unchanged', () => {
    const header = Buffer.concat([bytes('Subject: '), Buffer.from([0xc3, 0xa9, 0xff]), bytes('\r\nTo: b\r\n\r\n')]);
    assert.equal(run([header], ['TO'], true), Buffer.concat([header.subarray(0, 14), bytes('\r\n')]).toString('latin1'));
  });
});

describe('split invariance', () => {
  const samples: [text: string, names: string[]][] = [
    [HEADER, ['FROM', 'SUBJECT']],
    ['From: a\nTo: b\n folded\n\nbody\n', ['TO']],
    ['no colon\r\nA: 1\r\n\r\n', ['NO COLON', 'B']],
    ['A  : 1\r\nB: 2\r\n\tfolded\r\nlast', ['A']],
    ['\r\nbody', ['A']],
  ];

  // every split into three pieces (two cut points), both modes
  for (const [text, names] of samples) {
    const message = bytes(text);
    for (const exclude of [false, true]) {
      test(`${exclude ? 'FIELDS.NOT' : 'FIELDS'} (${names.join(' ')}) of ${JSON.stringify(text)}`, () => {
        const expected = model(text, names, exclude);
        assert.equal(run([message], names, exclude), expected);
        assert.equal(select(message, names, exclude), expected, 'the block whole, in memory');
        for (let i = 0; i <= message.length; i++) {
          for (let j = i; j <= message.length; j++) {
            const pieces = [message.subarray(0, i), message.subarray(i, j), message.subarray(j)];
            assert.equal(run(pieces, names, exclude), expected, `split at ${i} and ${j}`);
          }
        }
      });
    }
  }

  // a CR that ends a piece at a line start is an empty line only if the next piece starts with LF
  test(
    'a line starting with a bare CR, cut right after the CR',
    () => {
      const message = bytes('A: 1\r\n\rB: 2\r\n\r\n');
      const whole = run([message], ['A'], true);
      assert.equal(whole, '\rB: 2\r\n\r\n');
      assert.equal(run([message.subarray(0, 7), message.subarray(7)], ['A'], true), whole);
    },
  );

  /** mulberry32: a seeded PRNG, so a failing split can be reproduced. */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** A large header: 1000 fields (some folded), a 3000-byte field, a 3000-byte line without a colon. */
  function largeHeader(): string {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      lines.push(`${['Received', 'X-Field-' + i, 'Subject', 'dkim-signature'][i % 4]}: value ${i}\r\n`);
      if (i % 7 === 0) lines.push(`\tcontinuation of ${i}\r\n`);
    }
    lines.push(`X-Long: ${'v'.repeat(3000 - 10)}\r\n`);
    lines.push(`${'n'.repeat(2998)}\r\n`);
    lines.push('Subject: after the long lines\r\n', '\r\n', 'Subject: body\r\n');
    return lines.join('');
  }

  test('a large header cut into pieces of random sizes', () => {
    const text = largeHeader();
    const message = bytes(text);
    const random = prng(20240601);
    for (const [names, exclude] of [
      [['SUBJECT', 'X-LONG'], false],
      [['RECEIVED', 'DKIM-SIGNATURE'], true],
      [['X-LONG', 'X-FIELD-500'], true],
    ] as const) {
      const expected = model(text, names, exclude);
      assert.equal(select(message, names, exclude), expected, 'the block whole, in memory');
      for (let round = 0; round < 50; round++) {
        // mostly small pieces (cuts inside names and line ends), some large ones
        const maxPiece = [3, 40, 1500, 5000][round % 4] as number;
        const pieces: Buffer[] = [];
        for (let pos = 0; pos < message.length; ) {
          const size = 1 + Math.floor(random() * maxPiece);
          pieces.push(message.subarray(pos, pos + size));
          pos += size;
        }
        assert.equal(run(pieces, names, exclude), expected, `round ${round}`);
      }
    }
  });
});
