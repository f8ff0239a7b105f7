import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseSubject } from '../../src/sync/sort/base-subject.js';
import { parseEnvelope } from '../../src/sync/sort/envelope.js';
import { messageIds, messageKeys } from '../../src/sync/sort/message-keys.js';
import { sentDate } from '../../src/sync/sort/sent-date.js';
import { InternedStrings } from '../../src/sync/sort/interned-strings.js';
import { orderedSubjectThreads, referencesThreads, type ThreadSet } from '../../src/sync/sort/thread.js';

test('base subject: leaders, blobs, trailers and [fwd: ...] go (RFC 5256 2.1)', () => {
  assert.deepEqual(baseSubject('Re: Fwd: [list] Re: x'), { subject: 'X', replyOrForward: true });
  assert.deepEqual(baseSubject('hello (fwd) (fwd)  '), { subject: 'HELLO', replyOrForward: true });
  assert.deepEqual(baseSubject('[fwd: Re:  a\tb]'), { subject: 'A B', replyOrForward: true });
  assert.deepEqual(baseSubject('[blob]'), { subject: '[BLOB]', replyOrForward: false });
  assert.deepEqual(baseSubject('=?UTF-8?Q?R=C3=A9sum=C3=A9?= =?UTF-8?B?IHRlc3Q=?='), { subject: 'RE\u0301SUME\u0301 TEST', replyOrForward: false });
});

test('sent date: timezones, two-digit years, unparsable dates', () => {
  assert.equal(sentDate('Mon, 7 Feb 1994 21:52:25 -0800'), Date.UTC(1994, 1, 8, 5, 52, 25) / 1000);
  assert.equal(sentDate('7 Feb 94 21:52 GMT'), Date.UTC(1994, 1, 7, 21, 52) / 1000);
  assert.equal(sentDate('yesterday'), 0);
  assert.equal(sentDate(undefined), 0);
});

test('keys from an ENVELOPE: first mailbox, display name or address, references', () => {
  const envelope = parseEnvelope(
    Buffer.from('("Mon, 7 Feb 1994 21:52:25 -0800" "Re: hi" (("=?UTF-8?Q?J=C3=B6rg?=" NIL "joerg" "x.org")) NIL NIL ((NIL NIL "bob" "y.org")) NIL NIL "<p@x>" "<m@x>")'),
  );
  const keys = messageKeys(envelope, undefined, { size: 10, internalDate: '08-Feb-1994 00:00:00 +0000' });
  assert.equal(keys.from, 'JOERG');
  assert.equal(keys.displayFrom, 'JO\u0308RG');
  assert.equal(keys.displayTo, 'BOB@Y.ORG');
  assert.equal(keys.cc, '');
  assert.deepEqual(keys.parents, ['<p@x>']);
  assert.deepEqual(messageIds('<a@b> junk <c d@e> <nodomain>'), ['<a@b>', '<cd@e>']);
});

interface ThreadMessage {
  id: number;
  date: number;
  subject: string;
  replyOrForward: boolean;
  messageId: string;
  parents: string[];
}

const message = (id: number, fields: Partial<ThreadMessage>): ThreadMessage => ({ id, date: id, subject: 'S', replyOrForward: false, messageId: '', parents: [], ...fields });

/** Messages as the columns THREAD takes: subjects ranked, Message-IDs interned. */
function threadSet(messages: readonly ThreadMessage[]): ThreadSet {
  const ids = new InternedStrings();
  const subjects = [...new Set(['', ...messages.map((m) => m.subject)])].sort();
  const parents = messages.map((m) => m.parents.map((id) => ids.intern(id)));
  const parentStart = [0];
  for (const list of parents) parentStart.push((parentStart.at(-1) as number) + list.length);
  return {
    names: messages.map((m) => m.id),
    date: messages.map((m) => m.date),
    subject: messages.map((m) => subjects.indexOf(m.subject)),
    emptySubject: 0,
    subjectRanks: subjects.length,
    replyOrForward: messages.map((m) => (m.replyOrForward ? 1 : 0)),
    messageId: messages.map((m) => (m.messageId ? ids.intern(m.messageId) : -1)),
    parentStart,
    parents: parents.flat(),
    ids: ids.size,
  };
}

test('REFERENCES: a message breaks the link an earlier References guessed, missing parents are dummies', () => {
  const threads = referencesThreads(threadSet([
    message(1, { messageId: '<a@b>', subject: 'A' }),
    message(2, { messageId: '<b@b>', parents: ['<a@b>', '<c@b>'], subject: 'B' }),
    message(3, { messageId: '<c@b>', parents: ['<b@b>'], subject: 'C' }),
  ]));
  assert.equal(threads, '(1)(3 2)');
  assert.equal(referencesThreads(threadSet([message(1, { parents: ['<gone@x>'], subject: 'X' }), message(2, { parents: ['<gone@x>'], subject: 'Y' })])), '((1)(2))');
});

test('REFERENCES: duplicate Message-IDs, grouping by base subject', () => {
  assert.equal(referencesThreads(threadSet([message(1, { messageId: '<a@b>' }), message(2, { messageId: '<a@b>', replyOrForward: true })])), '(1 2)');
  assert.equal(referencesThreads(threadSet([message(1, {}), message(2, {})])), '((1)(2))');
});

test('REFERENCES: a reply chain 100,000 deep, in mailbox order and reversed, without overflowing the stack', () => {
  const depth = 100_000;
  const chain = Array.from({ length: depth }, (_v, i) => message(i + 1, { messageId: `<${i + 1}@x>`, parents: i > 0 ? [`<${i}@x>`] : [] }));
  const names = chain.map((m) => m.id);
  assert.equal(referencesThreads(threadSet(chain)), `(${names.join(' ')})`);
  // the deepest reply first in the mailbox: the root is the last message
  const reversed = chain.map((m, i) => ({ ...m, id: depth - i, date: depth - i })).reverse();
  assert.equal(referencesThreads(threadSet(reversed)), `(${names.reverse().join(' ')})`);
});

test('ORDEREDSUBJECT: by subject, then date; threads by their first date', () => {
  assert.equal(orderedSubjectThreads(threadSet([message(1, { subject: 'B' }), message(2, { subject: 'A' }), message(3, { subject: 'B' }), message(4, { subject: 'B' })])), '(1 (3)(4))(2)');
});
