import { HEADER_BLOCK } from '../../cache/keys.js';
import { SORT_KEY_BATCH } from '../../model/limits.js';
import type { MessageMeta, Uid } from '../../model/types.js';
import { Priority } from '../../upstream/connection-pool.js';
import { headerText } from '../cached-search.js';
import type { FolderGeneration } from '../generation.js';
import { headerValues } from '../local-search.js';
import { parseEnvelope } from './envelope.js';
import { decodeMessageKeys, encodeMessageKeys, messageKeys, type MessageKeys } from './message-keys.js';

/**
 * The sort and thread keys of messages, a batch at a time, in the order asked: from the cache,
 * or derived once from the ENVELOPE and header block (fetched from upstream where not cached,
 * and cached) and kept. A message upstream no longer has is left out.
 */
export async function* messageKeyBatches(generation: FolderGeneration, uids: readonly Uid[]): AsyncGenerator<{ uids: Uid[]; keys: MessageKeys[] }> {
  const { store } = generation.account;
  for (let i = 0; i < uids.length; i += SORT_KEY_BATCH) {
    const batch = uids.slice(i, i + SORT_KEY_BATCH);
    const stored = await store.getMessageKeys(generation.fid, batch);
    const missing = batch.filter((_uid, j) => stored[j] === undefined);
    const derived = missing.length ? await deriveKeys(generation, missing) : new Map<Uid, MessageKeys>();
    const found = { uids: [] as Uid[], keys: [] as MessageKeys[] };
    batch.forEach((uid, j) => {
      const value = stored[j];
      const keys = value !== undefined ? decodeMessageKeys(value) : derived.get(uid);
      if (!keys) return;
      found.uids.push(uid);
      found.keys.push(keys);
    });
    yield found;
  }
}

async function deriveKeys(generation: FolderGeneration, uids: readonly Uid[]): Promise<Map<Uid, MessageKeys>> {
  const { store } = generation.account;
  const metas = (await store.getMetas(generation.fid, uids)).filter((meta): meta is MessageMeta => !!meta);
  const structures = await generation.items.structures(metas, ['envelope'], Priority.Client);
  // records just fetched are in memory: the store may not have them yet
  const headers = await generation.items.sections(metas, HEADER_BLOCK, Priority.Client);
  const derived = new Map<Uid, MessageKeys>();
  for (const meta of metas) {
    const envelope = structures.get(meta.uid)?.envelope;
    const record = headers.get(meta.uid);
    const header = record && (await headerText(generation, record, record.length));
    if (!envelope || header === undefined) continue;
    derived.set(meta.uid, messageKeys(parseEnvelope(envelope), headerValues(header, 'references')[0], meta));
  }
  await store.putMessageKeys(generation.fid, [...derived].map(([uid, keys]) => ({ uid, value: encodeMessageKeys(keys) })));
  return derived;
}
