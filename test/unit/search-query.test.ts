import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isProxyError } from '../../src/model/errors.js';
import type { ImapToken } from '../../src/imap/imap-core.js';
import { compileSearch } from '../../src/imap/search-query.js';
import { atom, type Token } from '../../src/upstream/imap-tokens.js';

// imap-core's parsed arguments
type Raw = ImapToken | Raw[];
const A = (value: string): ImapToken => ({ type: 'ATOM', value });
const S = (value: string): ImapToken => ({ type: 'STRING', value });
const L = (value: string): ImapToken => ({ type: 'LITERAL', value });
const Q = (value: string): ImapToken => ({ type: 'SEQUENCE', value });
// what goes upstream
const str = (value: string): Token => ({ type: 'STRING', value });

const noSequences = (set: string): number[] => assert.fail(`unexpected sequence set ${set}`);
const compile = (raw: Raw[], resolve: (set: string) => number[] = noSequences) =>
  compileSearch(raw as Parameters<typeof compileSearch>[0], resolve);

/** Asserts that compiling throws the ProxyError the IMAP layer turns into BAD. */
function assertInvalid(raw: Raw[]): void {
  assert.throws(
    () => compile(raw),
    (err: unknown) => isProxyError(err, 'UPSTREAM_BAD') && /^Invalid search: /.test(err.clientText ?? ''),
  );
}

describe('compileSearch', () => {
  test('keys without arguments pass through, uppercased', () => {
    assert.deepEqual(compile([A('seen'), A('UNDELETED'), A('All')]), [atom('SEEN'), atom('UNDELETED'), atom('ALL')]);
  });

  test('arguments keep their kind: atoms stay atoms, strings and literals become strings', () => {
    assert.deepEqual(compile([A('LARGER'), A('1000'), A('FROM'), S('alice'), A('SUBJECT'), L('hello world')]), [
      atom('LARGER'), atom('1000'), atom('FROM'), str('alice'), atom('SUBJECT'), str('hello world'),
    ]);
    assert.deepEqual(compile([A('HEADER'), S('X-Spam'), S('yes'), A('SINCE'), A('1-Feb-2024')]), [
      atom('HEADER'), str('X-Spam'), str('yes'), atom('SINCE'), atom('1-Feb-2024'),
    ]);
  });

  test('8-bit strings read as binary by imap-core are decoded as UTF-8 again', () => {
    const binary = Buffer.from('Grüße €', 'utf8').toString('binary');
    assert.deepEqual(compile([A('SUBJECT'), S(binary), A('BODY'), L(binary)]), [atom('SUBJECT'), str('Grüße €'), atom('BODY'), str('Grüße €')]);
  });

  test('NOT and OR take keys or groups, nested', () => {
    assert.deepEqual(compile([A('NOT'), A('SEEN')]), [atom('NOT'), atom('SEEN')]);
    assert.deepEqual(compile([A('or'), A('SEEN'), [A('FROM'), S('a'), A('TO'), S('b')]]), [
      atom('OR'), atom('SEEN'), [atom('FROM'), str('a'), atom('TO'), str('b')],
    ]);
    assert.deepEqual(compile([A('OR'), A('OR'), A('DRAFT'), A('FLAGGED'), A('NOT'), [A('NOT'), A('SEEN')], A('DELETED')]), [
      atom('OR'), atom('OR'), atom('DRAFT'), atom('FLAGGED'), atom('NOT'), [atom('NOT'), atom('SEEN')], atom('DELETED'),
    ]);
    assert.deepEqual(compile([[[A('SEEN')], A('TEXT'), S('x')]]), [[[atom('SEEN')], atom('TEXT'), str('x')]]);
  });

  test('UID sets are passed as given', () => {
    assert.deepEqual(compile([A('UID'), Q('1:*')]), [atom('UID'), atom('1:*')]);
    assert.deepEqual(compile([A('UID'), A('4,9:7'), A('SEEN')]), [atom('UID'), atom('4,9:7'), atom('SEEN')]);
  });

  test('bare sequence sets are resolved to UID sets', () => {
    const asked: string[] = [];
    const resolve = (set: string) => {
      asked.push(set);
      return set === '*' ? [40] : [3, 4, 5, 9];
    };
    assert.deepEqual(compile([Q('2:4,6'), A('OR'), A('*'), [A('NOT'), Q('1')]], resolve), [
      atom('UID'), atom('3:5,9'), atom('OR'), atom('UID'), atom('40'), [atom('NOT'), atom('UID'), atom('3:5,9')],
    ]);
    assert.deepEqual(asked, ['2:4,6', '*', '1']);
  });

  test('a sequence set naming no message matches nothing', () => {
    assert.deepEqual(compile([Q('5:7'), A('SEEN')], () => []), [atom('NOT'), atom('ALL'), atom('SEEN')]);
  });

  test('CHARSET comes first, with its argument', () => {
    assert.deepEqual(compile([A('charset'), A('UTF-8'), A('TEXT'), S('x')]), [atom('CHARSET'), atom('UTF-8'), atom('TEXT'), str('x')]);
  });

  test('MODSEQ with a value only, and with an entry name and type', () => {
    assert.deepEqual(compile([A('MODSEQ'), A('620162338'), A('SEEN')]), [atom('MODSEQ'), atom('620162338'), atom('SEEN')]);
    assert.deepEqual(compile([A('MODSEQ'), S('/flags/\\draft'), A('all'), A('620162338'), A('SEEN')]), [
      atom('MODSEQ'), str('/flags/\\draft'), atom('all'), atom('620162338'), atom('SEEN'),
    ]);
    assert.deepEqual(compile([A('NOT'), A('MODSEQ'), A('7')]), [atom('NOT'), atom('MODSEQ'), atom('7')]);
  });

  test('unknown keys and malformed queries are UPSTREAM_BAD', () => {
    assertInvalid([A('FROBNICATE')]);
    assertInvalid([A('SEEN'), S('stray')]);
    assertInvalid([A('NOT')]);
    assertInvalid([A('OR'), A('SEEN')]);
    assertInvalid([A('FROM'), [A('SEEN')]]);
    assertInvalid([[A('SEEN'), A('BOGUS')]]);
    assertInvalid([A('UID')]);
    assertInvalid([A('CHARSET')]);
  });

  // imap-core itself lets `SEARCH FROM` through (it pushes an undefined argument): the proxy must
  // refuse it rather than send upstream a query without its argument
  test(
    'a key missing its arguments is UPSTREAM_BAD',
    () => {
      assertInvalid([A('FROM')]);
      assertInvalid([A('HEADER'), S('X-Only-Name')]);
      assertInvalid([A('MODSEQ')]);
    },
  );
});
