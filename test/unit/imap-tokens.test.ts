import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { atom, fetchItemName, serializeTokens, tokenBytes, type Token } from '../../src/upstream/imap-tokens.js';

const str = (value: string): Token => ({ type: 'STRING', value });
const literal = (value: Buffer | string): Token => ({ type: 'LITERAL', value });
const text = (token: Token) => serializeTokens(token).toString('latin1');

describe('serializeTokens', () => {
  test('NIL, atoms and numbers as atoms', () => {
    assert.equal(text(null), 'NIL');
    assert.equal(text(atom('\\Seen')), '\\Seen');
    assert.equal(text(atom('4096')), '4096');
    assert.equal(text({ type: 'SEQUENCE', value: '1:*' }), '1:*');
  });

  test('quoted strings escape " and \\ only', () => {
    assert.equal(text(str('')), '""');
    assert.equal(text(str('plain text')), '"plain text"');
    assert.equal(text(str('say "hi" \\ bye')), '"say \\"hi\\" \\\\ bye"');
  });

  test('quoted strings are written as UTF-8', () => {
    assert.deepEqual(serializeTokens(str('Grüße')), Buffer.from('"Grüße"', 'utf8'));
  });

  test('literals keep their bytes exactly, 8-bit and CRLF included', () => {
    const raw = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x0d, 0x0a, 0x22, 0x5c]);
    assert.deepEqual(serializeTokens(literal(raw)), Buffer.concat([Buffer.from('{8}\r\n'), raw]));
    assert.equal(text(literal(Buffer.alloc(0))), '{0}\r\n');
    // a string value is taken as binary (one byte per char), as imapflow hands it over
    assert.deepEqual(serializeTokens(literal('\u00e9\u00ff')), Buffer.from([...Buffer.from('{2}\r\n'), 0xe9, 0xff]));
  });

  test('lists: spaces between elements, none inside the parentheses', () => {
    assert.equal(text([]), '()');
    assert.equal(text([atom('A'), null, str('b')]), '(A NIL "b")');
    assert.equal(text([[[]]]), '((()))');
  });

  test('no space between lists that directly follow each other at the start of a list', () => {
    assert.equal(text([[atom('a')], [atom('b')], str('mixed')]), '((a)(b) "mixed")');
    assert.equal(text([[atom('a')], [atom('b')], [atom('c')]]), '((a)(b)(c))');
    assert.equal(text([[[atom('x')], [atom('y')]], [atom('z')]]), '(((x)(y))(z))');
  });

  test('after a non-list element, lists are separated by spaces as usual', () => {
    assert.equal(text([atom('a'), [atom('b')], [atom('c')]]), '(a (b) (c))');
    assert.equal(text([[atom('a')], str('s'), [atom('b')], [atom('c')]]), '((a) "s" (b) (c))');
    assert.equal(text([null, [null, null]]), '(NIL (NIL NIL))');
  });

  const address = (name: string | null, mailbox: string, host: string): Token[] => [name === null ? null : str(name), null, str(mailbox), str(host)];

  test('an ENVELOPE with an address list, a literal subject and NILs', () => {
    const subject = Buffer.from('Caf\u00e9 "menu"\r\n', 'latin1');
    const envelope: Token = [
      str('Mon, 7 Feb 1994 21:52:25 -0800'),
      literal(subject),
      [address('Fred "the" Foobar', 'foobar', 'Blurdybloop.COM')],
      [address('Fred "the" Foobar', 'foobar', 'Blurdybloop.COM')],
      [address(null, 'reply', 'example.org')],
      [address(null, 'a', 'x.org'), address('B \\ C', 'b', 'y.org')],
      null,
      null,
      null,
      str('<B27397-0100000@Blurdybloop.COM>'),
    ];
    const expected = Buffer.concat([
      Buffer.from('("Mon, 7 Feb 1994 21:52:25 -0800" {13}\r\n'),
      subject,
      Buffer.from(
        ' (("Fred \\"the\\" Foobar" NIL "foobar" "Blurdybloop.COM"))' +
          ' (("Fred \\"the\\" Foobar" NIL "foobar" "Blurdybloop.COM"))' +
          ' ((NIL NIL "reply" "example.org"))' +
          ' ((NIL NIL "a" "x.org")("B \\\\ C" NIL "b" "y.org"))' +
          ' NIL NIL NIL "<B27397-0100000@Blurdybloop.COM>")',
      ),
    ]);
    assert.deepEqual(serializeTokens(envelope), expected);
  });

  test('a multipart BODYSTRUCTURE in Dovecot\'s spacing', () => {
    const textPart = (subtype: string, encoding: string, size: string, lines: string): Token[] => [
      str('text'), str(subtype), [str('charset'), str('utf-8')], null, null, str(encoding), atom(size), atom(lines), null, null, null, null,
    ];
    const alternative: Token[] = [
      textPart('plain', '7bit', '12', '1'),
      textPart('html', 'quoted-printable', '40', '2'),
      str('alternative'), [str('boundary'), str('b2')], null, null, null,
    ];
    const attachment: Token[] = [
      str('application'), str('octet-stream'), [str('name'), str('a.bin')], null, null, str('base64'), atom('100'), null,
      [str('attachment'), [str('filename'), str('a.bin')]], null, null,
    ];
    const structure: Token = [alternative, attachment, str('mixed'), [str('boundary'), str('b1')], null, null, null];
    assert.equal(
      text(structure),
      '((' +
        '("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)' +
        '("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 40 2 NIL NIL NIL NIL)' +
        ' "alternative" ("boundary" "b2") NIL NIL NIL)' +
        '("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 100 NIL ("attachment" ("filename" "a.bin")) NIL NIL)' +
        ' "mixed" ("boundary" "b1") NIL NIL NIL)',
    );
  });
});

describe('tokenBytes', () => {
  test('no bytes for NIL or a list', () => {
    assert.equal(tokenBytes(null), null);
    assert.equal(tokenBytes([str('a')]), null);
  });

  test('a literal Buffer is returned as it is', () => {
    const raw = Buffer.from([0x80, 0x00, 0xff]);
    assert.equal(tokenBytes(literal(raw)), raw);
  });

  test('a literal string is binary, a quoted string UTF-8', () => {
    assert.deepEqual(tokenBytes(literal('\u00e9')), Buffer.from([0xe9]));
    assert.deepEqual(tokenBytes(str('\u00e9')), Buffer.from([0xc3, 0xa9]));
    assert.deepEqual(tokenBytes(atom('NIL')), Buffer.from('NIL'));
  });
});

describe('fetchItemName', () => {
  test('plain items are uppercased', () => {
    assert.equal(fetchItemName(atom('rfc822.size')), 'RFC822.SIZE');
  });

  test('sections are serialised inside brackets, uppercased', () => {
    assert.equal(fetchItemName({ type: 'ATOM', value: 'BODY', section: [] }), 'BODY[]');
    assert.equal(fetchItemName({ type: 'ATOM', value: 'body', section: [atom('1.2.mime')] }), 'BODY[1.2.MIME]');
    assert.equal(
      fetchItemName({ type: 'ATOM', value: 'BODY', section: [atom('HEADER.FIELDS'), [atom('From'), atom('to')]] }),
      'BODY[HEADER.FIELDS (FROM TO)]',
    );
  });

  test('a partial keeps only its origin', () => {
    assert.equal(fetchItemName({ type: 'ATOM', value: 'BODY', section: [], partial: [100, 50] }), 'BODY[]<100>');
    assert.equal(fetchItemName({ type: 'ATOM', value: 'BINARY', section: [atom('1')], partial: [0] }), 'BINARY[1]<0>');
    assert.equal(fetchItemName({ type: 'ATOM', value: 'BODY', section: [], partial: [] }), 'BODY[]');
  });
});
