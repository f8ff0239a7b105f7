import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { CommandArgument } from '../../src/imap/imap-core.js';
import { parseNotify, type NotifyRequest } from '../../src/imap/notify-command.js';

process.env['DISABLE_WILD_CONFIG'] = 'true';
const { parser } = createRequire(import.meta.url)('@zone-eu/wildduck/imap-core/lib/handler/imap-handler.js') as {
  parser(line: string): { attributes?: CommandArgument[] };
};

/** NOTIFY's arguments as imap-core's parser gives them to the proxy. */
const notify = (args: string): NotifyRequest => parseNotify(parser(`A NOTIFY ${args}`).attributes ?? []);

const refusal = (request: NotifyRequest) => (request.kind === 'refused' ? `${request.response}${request.code ? ` [${request.code}]` : ''}` : request.kind);

test('NOTIFY NONE, and SET with STATUS and each mailbox filter', () => {
  assert.deepEqual(notify('NONE'), { kind: 'none' });
  const request = notify(
    'SET STATUS (selected (MessageNew MessageExpunge FlagChange)) (inboxes (MessageNew)) (subscribed (MailboxName)) (subtree (Archive "Lists") (SubscriptionChange)) (mailboxes Work (MessageExpunge FlagChange)) (personal NONE)',
  );
  assert.equal(request.kind, 'set');
  if (request.kind !== 'set') return;
  assert.equal(request.status, true);
  assert.deepEqual(request.selected, { delayed: false, events: new Set(['MessageNew', 'MessageExpunge', 'FlagChange']) });
  assert.deepEqual(
    request.groups.map((group) => [group.filter, [...group.events]]),
    [
      [{ kind: 'personal' }, ['MessageNew']],
      [{ kind: 'subscribed' }, ['MailboxName']],
      [{ kind: 'subtree', names: ['Archive', 'Lists'] }, ['SubscriptionChange']],
      [{ kind: 'mailboxes', names: ['Work'] }, ['MessageExpunge', 'FlagChange']],
    ],
    'INBOXES is taken as PERSONAL; a group with NONE is left out',
  );
  const delayed = notify('SET (selected-delayed (messagenew messageexpunge))');
  assert.equal(delayed.kind === 'set' && delayed.selected?.delayed, true, 'filters and events in any case');
  assert.equal(notify('SET (mailboxes x (MessageExpunge))').kind, 'set', 'only the selected group needs MessageNew and MessageExpunge together');
});

test('unsupported events are refused with BADEVENT, naming the supported ones', () => {
  for (const event of ['AnnotationChange', 'MailboxMetadataChange', 'ServerMetadataChange']) {
    const request = notify(`SET (personal (MessageNew ${event}))`);
    assert.equal(refusal(request), 'NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]', event);
  }
  const many = Array.from({ length: 101 }, (_, i) => `f${i}`).join(' ');
  assert.equal(refusal(notify(`SET (mailboxes (${many}) (MessageNew))`)), 'NO [NOTIFICATIONOVERFLOW]');
});

test('malformed NOTIFY is BAD', () => {
  const cases = [
    '',
    'FOO',
    'NONE extra',
    'SET',
    'SET STATUS',
    'SET personal (MessageNew)',
    'SET ()',
    'SET (unknown (MessageNew))',
    'SET (personal (NoSuchEvent))',
    'SET (personal ())',
    'SET (personal MessageNew)',
    'SET (personal (MessageNew) extra)',
    'SET (mailboxes (MessageNew))',
    'SET (mailboxes () (MessageNew))',
    'SET (subtree)',
    'SET (selected (MessageNew))',
    'SET (selected (MessageExpunge))',
    'SET (selected (FlagChange))',
    'SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))',
    'SET (selected (MessageNew (UID FLAGS) MessageExpunge))',
  ];
  for (const args of cases) assert.equal(refusal(notify(args)), 'BAD', args);
});
