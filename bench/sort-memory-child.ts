// Run by the sort scenario in its own process: a synthetic folder of N messages whose sort keys
// are written straight into a CacheStore, then every SORT key and both THREAD algorithms over it
// while the parent samples this process's RssAnon. Prints `ready` once the store is written and
// reopened (the baseline), `done <ms>` at the end.
import { CacheStore } from '../src/cache/cache-store.js';
import { createLogger } from '../src/log.js';
import type { Uid } from '../src/model/types.js';
import type { FolderGeneration } from '../src/sync/generation.js';
import { encodeMessageKeys, type MessageKeys } from '../src/sync/sort/message-keys.js';
import { sortMessages } from '../src/sync/sort/sort-messages.js';
import { SORT_KEYS } from '../src/sync/sort/sort-program.js';
import { threadMessages } from '../src/sync/sort/threads.js';

const [dir = '', count = '200000'] = process.argv.slice(2);
const messages = Number(count);
const FID = 'f1';
const WRITE_BATCH = 5000;

/** Message i: threads of up to 8 replies, 40,000 distinct subjects, 2,000 senders. */
function keys(i: number): MessageKeys {
  const thread = Math.floor(i / 8);
  const depth = i % 8;
  const subject = `SUBJECT OF THREAD ${thread % 40_000} ABOUT SOMETHING`;
  return {
    arrival: 1_700_000_000 + i * 60,
    date: 1_700_000_000 + ((i * 7919) % messages) * 60,
    size: 2_000 + ((i * 104_729) % 50_000),
    subject,
    replyOrForward: depth > 0,
    from: `SENDER${i % 2_000}`,
    to: `RECIPIENT${i % 300}`,
    cc: i % 3 ? '' : `CC${i % 100}`,
    displayFrom: `PERSON NUMBER ${i % 2_000}`,
    displayTo: `TEAM ${i % 300}`,
    messageId: `<${i}.${thread}@example.org>`,
    parents: Array.from({ length: depth }, (_v, d) => `<${thread * 8 + d}.${thread}@example.org>`),
  };
}

const log = createLogger({ level: 'silent' });
let store = await CacheStore.open(dir, log);
for (let i = 0; i < messages; i += WRITE_BATCH) {
  const entries = [];
  for (let j = i; j < Math.min(messages, i + WRITE_BATCH); j++) entries.push({ uid: (j + 1) as Uid, value: encodeMessageKeys(keys(j)) });
  await store.putMessageKeys(FID, entries);
}
await store.close();
store = await CacheStore.open(dir, log);
const uids = Array.from({ length: messages }, (_v, i) => (i + 1) as Uid);
// what the sort code uses of a generation: its store, folder id and UIDs (every key is cached)
const generation = { account: { store }, fid: FID, uids } as unknown as FolderGeneration;
globalThis.gc?.();
await new Promise((resolve) => setTimeout(resolve, 500));
process.stdout.write('ready\n');
const start = performance.now();
for (const column of new Set(Object.values(SORT_KEYS))) await sortMessages(generation, uids, [{ column, reverse: false }]);
await threadMessages(generation, uids, 'REFERENCES', (uid) => uid);
await threadMessages(generation, uids, 'ORDEREDSUBJECT', (uid) => uid);
process.stdout.write(`done ${(performance.now() - start).toFixed(0)}\n`);
await new Promise((resolve) => setTimeout(resolve, 300));
await store.close();
