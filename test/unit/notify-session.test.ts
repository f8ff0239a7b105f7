import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import { pino } from 'pino';
import type { NotifyEvent, NotifyRequest } from '../../src/imap/notify-command.js';
import { NotifySession, type NotifyOutput } from '../../src/imap/notify-session.js';
import { MAX_NOTIFY_PENDING } from '../../src/model/limits.js';
import type { FolderStatus } from '../../src/model/types.js';
import type { Account } from '../../src/sync/account.js';

/** An account of folders named f0, f1, ... whose message counts the test sets. */
function fakeAccount(folders: number) {
  const messages = new Map(Array.from({ length: folders }, (_, i) => [`f${i}`, 0]));
  const account = Object.assign(new EventEmitter(), {
    statusAsked: 0,
    list: async () => [...messages.keys()].map((path) => ({ path, flags: [], specialUse: null, subscribed: false })),
    subscriptions: async () => [],
    status: async (path: string): Promise<FolderStatus> => {
      account.statusAsked++;
      const count = messages.get(path) ?? 0;
      return { messages: count, uidNext: count + 1, uidValidity: 1, unseen: count, highestModseq: '0' };
    },
    folder: () => ({ statusModseq: async () => '1' }),
    watcher: { sessionNotified: () => undefined },
  });
  return { account, messages };
}

/** Output that records lines; `busy` stands for a command being answered. */
function fakeOutput() {
  const lines: string[] = [];
  const output: NotifyOutput & { busy: boolean } = {
    busy: false,
    write: (line) => lines.push(line),
    quiet: () => !output.busy,
    backedUp: () => false,
    selected: () => undefined,
    flushSelected: () => undefined,
    condstore: () => false,
    folderPath: (name) => name,
    statusLine: (path, items) => `* STATUS ${path} (${items.map((item) => item.join(' ')).join(' ')})`,
    listLine: (flags, path) => `* LIST (${flags.join(' ')}) "/" ${path}`,
  };
  return { output, lines };
}

/** `NOTIFY SET (personal (events))` as the parser gives it. */
const personal = (...events: NotifyEvent[]): Extract<NotifyRequest, { kind: 'set' }> => ({
  kind: 'set',
  status: false,
  groups: [{ filter: { kind: 'personal' }, events: new Set(events) }],
});

test('changes that come while a command runs are told once per folder, with the values of when they are sent', async () => {
  const { account, messages } = fakeAccount(3);
  const { output, lines } = fakeOutput();
  const session = new NotifySession('s1', account as unknown as Account, personal('MessageNew', 'MessageExpunge'), output, pino({ level: 'silent' }));
  await session.start();
  output.busy = true;
  for (let round = 1; round <= 50; round++) {
    for (const path of messages.keys()) {
      messages.set(path, round);
      account.emit('changed', path);
    }
  }
  await turn();
  assert.deepEqual(lines, [], 'nothing while a command is answered');
  output.busy = false;
  session.commandEnded();
  for (let i = 0; i < 10; i++) await turn();
  assert.deepEqual(lines, ['* STATUS f0 (MESSAGES 50 UIDNEXT 51 UNSEEN 50)', '* STATUS f1 (MESSAGES 50 UIDNEXT 51 UNSEEN 50)', '* STATUS f2 (MESSAGES 50 UIDNEXT 51 UNSEEN 50)']);
  assert.equal(account.statusAsked, 3);
  // a change that leaves the status as it was is not told
  account.emit('changed', 'f0');
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(lines.length, 3);
  session.stop();
  account.emit('changed', 'f1');
  assert.equal(account.listenerCount('changed'), 0);
});

test('more folders pending than the limit: NOTIFICATIONOVERFLOW, and no more notifications', async () => {
  const { account, messages } = fakeAccount(MAX_NOTIFY_PENDING + 1);
  const { output, lines } = fakeOutput();
  const session = new NotifySession('s1', account as unknown as Account, personal('MessageNew', 'MessageExpunge'), output, pino({ level: 'silent' }));
  await session.start();
  output.busy = true;
  for (const path of messages.keys()) account.emit('changed', path);
  output.busy = false;
  session.commandEnded();
  for (let i = 0; i < 10; i++) await turn();
  assert.deepEqual(lines, ['* OK [NOTIFICATIONOVERFLOW] Too many changes at once: notifications stopped']);
  assert.equal(account.listenerCount('changed'), 0);
});
