import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { normalizeCommand } from '../../src/imap/command-syntax.js';

process.env['DISABLE_WILD_CONFIG'] = 'true';
const { parser } = createRequire(import.meta.url)('@zone-eu/wildduck/imap-core/lib/handler/imap-handler.js') as {
  parser(line: string): { attributes: unknown[] };
};

test('sequence sets imap-core refuses become equivalent ones it parses', () => {
  const cases: [string, string][] = [
    ['A FETCH 1,* UID', 'A FETCH 1,*:* UID'],
    ['A FETCH *,1 UID', 'A FETCH *:*,1 UID'],
    ['A SEARCH *:3', 'A SEARCH 3:*'],
    ['A UID FETCH 4:5,*,7:* (FLAGS)', 'A UID FETCH 4:5,*:*,7:* (FLAGS)'],
  ];
  for (const [line, expected] of cases) {
    assert.throws(() => parser(line), `imap-core still refuses ${line}: drop this case`);
    assert.equal(normalizeCommand(line), expected);
    assert.doesNotThrow(() => parser(expected));
  }
});

test('LIST and LSUB patterns with a wildcard inside an atom are quoted', () => {
  assert.equal(normalizeCommand('A LIST "" INBOX/%'), 'A LIST "" "INBOX/%"');
  assert.equal(normalizeCommand('A LSUB "" a%b'), 'A LSUB "" "a%b"');
  assert.equal(normalizeCommand('A LIST "" Inbox*'), 'A LIST "" "Inbox*"');
  assert.equal(normalizeCommand('A LIST "" %'), 'A LIST "" "%"');
  // every ATOM-CHAR and resp-special imaptest's atoms test uses
  assert.equal(normalizeCommand('A LIST "" !#$&\'+,-.0123456789:;<=>?@^_`|[}%*'), 'A LIST "" "!#$&\'+,-.0123456789:;<=>?@^_`|[}%*"');
  assert.deepEqual(parser(normalizeCommand('A LIST "" INBOX/%')).attributes, [{ type: 'STRING', value: '' }, { type: 'STRING', value: 'INBOX/%' }]);
});

test('NIL as a SEARCH string or a STORE keyword is quoted', () => {
  assert.equal(normalizeCommand('A STORE 1 +FLAGS NIL'), 'A STORE 1 +FLAGS "NIL"');
  assert.equal(normalizeCommand('A SEARCH SUBJECT NIL'), 'A SEARCH SUBJECT "NIL"');
  assert.equal(normalizeCommand('A UID SEARCH BODY nil'), 'A UID SEARCH BODY "nil"');
});

test('what imap-core takes already, quoted strings and literals stay as they are', () => {
  for (const line of [
    'A FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.100>)',
    'A SEARCH 3:* SUBJECT "1,*"',
    'A SEARCH UID *',
    'A APPEND INBOX {5}\r\n',
    'A LOGIN "a%b" "*,1"',
    'A LOGIN *:3 1,*',
    'A SELECT INBOX',
  ]) {
    assert.equal(normalizeCommand(line), line);
  }
});

test("SELECT's QRESYNC sets are quoted (imap-core's parser takes no range inside a list)", () => {
  const line = 'A SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:5,7 41:45,47)))';
  assert.throws(() => parser(line), 'imap-core still refuses it: drop this case');
  const expected = 'A SELECT INBOX (QRESYNC (67890007 90060115194045000 "41:211,214:541" ("1:5,7" "41:45,47")))';
  assert.equal(normalizeCommand(line), expected);
  assert.doesNotThrow(() => parser(expected));
  assert.equal(normalizeCommand('A EXAMINE INBOX (QRESYNC (1 2 5))'), 'A EXAMINE INBOX (QRESYNC (1 2 5))');
});
