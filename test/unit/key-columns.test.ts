import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Uid } from '../../src/model/types.js';
import type { FolderGeneration } from '../../src/sync/generation.js';
import { encodeMessageKeys, type MessageKeys } from '../../src/sync/sort/message-keys.js';
import { sortMessages } from '../../src/sync/sort/sort-messages.js';
import { threadMessages } from '../../src/sync/sort/threads.js';
import { withStore } from '../support/cache-store.js';

const keys = (uid: number): MessageKeys => ({
  arrival: uid,
  date: 100 - uid * 3,
  size: (uid * 37) % 11,
  subject: `S${uid % 3}`,
  replyOrForward: uid > 3,
  from: `F${(uid * 5) % 4}`,
  to: '',
  cc: '',
  displayFrom: '',
  displayTo: '',
  messageId: `<${uid}@x>`,
  parents: uid > 1 ? [`<${uid - 1}@x>`] : [],
});

test('the key columns follow the folder: after new mail and expunges SORT and THREAD answer as from scratch', async () => {
  await withStore(async (store) => {
    await store.putMessageKeys('f', [1, 2, 3, 4, 5, 6, 7, 8].map((uid) => ({ uid: uid as Uid, value: encodeMessageKeys(keys(uid)) })));
    const generation = (uids: number[]) => ({ account: { store }, fid: 'f', uids }) as unknown as FolderGeneration;
    const answers = async (g: FolderGeneration) => ({
      sorted: await sortMessages(g, g.uids, [{ column: 'subject', reverse: false }, { column: 'from', reverse: true }, { column: 'size', reverse: false }]),
      references: await threadMessages(g, g.uids, 'REFERENCES', (uid) => uid),
      subjects: await threadMessages(g, g.uids, 'ORDEREDSUBJECT', (uid) => uid),
    });
    const changing = generation([1, 2, 3, 4, 5]);
    await answers(changing);
    for (const uids of [[1, 2, 4, 5], [1, 2, 4, 5, 6, 7, 8], [2, 5, 8]]) {
      changing.uids = uids as Uid[];
      assert.deepEqual(await answers(changing), await answers(generation(uids)), `UIDs ${uids}`);
    }
  });
});

test('two SORTs arriving together on a new generation share one pass over the keys', async () => {
  await withStore(async (store) => {
    await store.putMessageKeys('f', [1, 2, 3].map((uid) => ({ uid: uid as Uid, value: encodeMessageKeys(keys(uid)) })));
    let reads = 0;
    const counting = new Proxy(store, {
      get: (target, name) => (name === 'getMessageKeys' ? (...args: Parameters<typeof store.getMessageKeys>) => (reads++, target.getMessageKeys(...args)) : Reflect.get(target, name)),
    });
    const generation = { account: { store: counting }, fid: 'f', uids: [1, 2, 3] } as unknown as FolderGeneration;
    const answers = await Promise.all([sortMessages(generation, generation.uids, [{ column: 'date', reverse: false }]), sortMessages(generation, generation.uids, [{ column: 'from', reverse: false }])]);
    assert.deepEqual(answers[0], [3, 2, 1]);
    assert.equal(reads, 1);
  });
});
