import type { SectionRecord } from '../cache/cache-store.js';
import { FULL_BODY, HEADER_BLOCK } from '../cache/keys.js';
import { SEARCH_BATCH, SEARCH_HEADER_MAX } from '../model/limits.js';
import type { MessageMeta, Uid } from '../model/types.js';
import type { Token } from '../upstream/imap-tokens.js';
import type { GenerationContext } from './account-context.js';
import type { FolderGeneration } from './generation.js';
import { searchLocally } from './local-search.js';
import { indexedBodies } from './part-sections.js';
import { rawTextContains } from './text-search.js';

/** SEARCH over a folder generation's cache (upstream unreachable): see local-search.ts for what it can answer. */
export async function searchCache(generation: FolderGeneration, query: readonly Token[], uids: readonly Uid[]): Promise<Uid[]> {
  const { store } = generation.account;
  const found: Uid[] = [];
  for (let i = 0; i < uids.length; i += SEARCH_BATCH) {
    const metas = (await store.getMetas(generation.fid, uids.slice(i, i + SEARCH_BATCH))).filter((m): m is MessageMeta => !!m);
    const messages = metas.map((meta) => ({
      meta,
      header: () => cachedHeader(generation, meta.uid),
      contains: async (key: 'BODY' | 'TEXT', needle: string) => {
        const indexed = (await indexedBodies(generation, [meta])).get(meta.uid);
        return indexed?.index.scanned ? rawTextContains(store, indexed, key, needle) : undefined;
      },
    }));
    found.push(...(await searchLocally(query, messages)));
  }
  return found;
}

/** A message's raw header block from the cache (whole body or header section), as latin1. */
export async function cachedHeader(generation: GenerationContext, uid: Uid): Promise<string | undefined> {
  const { store } = generation.account;
  const [header, body] = await store.getSections(generation.fid, [
    { uid, section: HEADER_BLOCK },
    { uid, section: FULL_BODY },
  ]);
  const record = header ?? body;
  if (!record) return undefined;
  return headerText(generation, record, header ? header.length : record.headerLength);
}

/** The first `end` bytes of a section (its header block), at most SEARCH_HEADER_MAX, as latin1. */
export async function headerText(generation: GenerationContext, record: SectionRecord, end: number): Promise<string> {
  const content = await generation.account.store.openSection(record, 0, Math.min(end, SEARCH_HEADER_MAX));
  if ('buffer' in content) return content.buffer.toString('latin1');
  const pieces: Buffer[] = [];
  for await (const piece of content.stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces).toString('latin1');
}
