import { FULL_BODY, HEADER_BLOCK } from '../cache/keys.js';
import type { SectionRecord } from '../cache/cache-store.js';
import type { MessageMeta, MessageStructure, StructureItem, Uid } from '../model/types.js';
import { Priority } from '../upstream/connection-pool.js';
import type { FolderGeneration } from './generation.js';
import { partSections, type PartBytes, type PartRequest } from './part-sections.js';
import { splitCached } from './split-cached.js';

/** What a FETCH needs of each message besides its metadata, decided once for all of them. */
export interface FetchNeeds {
  structures: readonly StructureItem[];
  /** Whole bodies (BODY[], BODY[TEXT], RFC822...). */
  fullBody: boolean;
  /** Header blocks: from the whole body when it is cached, else fetched alone. */
  headerBlock: boolean;
  /** MIME part sections ("1", "2.MIME", ...). */
  parts: readonly PartRequest[];
  /** BINARY sections (binarySection names): upstream decodes them; cached as they came. */
  binaries: readonly string[];
}

/** The cached sections a message's literal items are cut from. */
export interface MessageSections {
  uid: Uid;
  /** The whole message, when needed and cached. */
  body?: SectionRecord;
  /** The header block fetched on its own (when the whole message is not cached). */
  header?: SectionRecord;
  /** Part sections and BINARY sections by their section name. */
  parts: ReadonlyMap<string, PartBytes>;
}

export interface FetchData {
  structures: Map<Uid, MessageStructure>;
  /**
   * Per message; a message is absent when something it needs (a body, a part, its structure) is
   * not cached and upstream no longer has the message.
   */
  sections: Map<Uid, MessageSections>;
}

/** The parts of a message when a FETCH asks for none (shared: never written to). */
const NO_PARTS: ReadonlyMap<string, PartBytes> = new Map();

/**
 * Everything a FETCH of these messages needs, from the cache where it is there and from upstream
 * (one command per kind of item) where it is not; cached as it arrives.
 */
export async function gatherFetchData(generation: FolderGeneration, metas: MessageMeta[], needs: FetchNeeds): Promise<FetchData> {
  const priority = Priority.Client;
  const [structures, bodies, headers, parts, binaries] = await Promise.all([
    needs.structures.length ? generation.items.structures(metas, needs.structures, priority) : new Map<Uid, MessageStructure>(),
    needs.fullBody ? generation.bodies.ensure(metas, priority) : undefined,
    needs.headerBlock && !needs.fullBody ? headerBlocks(generation, metas) : undefined,
    needs.parts.length ? partSections(generation, metas, needs.parts, priority) : new Map<string, Map<Uid, PartBytes>>(),
    Promise.all(needs.binaries.map(async (section) => [section, await wholeSections(generation, metas, section)] as const)),
  ]);
  for (const [section, bytes] of binaries) parts.set(section, bytes);
  const sections = new Map<Uid, MessageSections>();
  const partMaps = [...parts.values()];
  for (const meta of metas) {
    const uid = meta.uid;
    const body = bodies?.get(uid) ?? headers?.bodies.get(uid);
    const header = headers?.headers.get(uid);
    if ((bodies && !body) || (headers && !body && !header)) continue;
    if (needs.structures.length && !structures.has(uid)) continue;
    if (partMaps.some((bytes) => !bytes.has(uid))) continue;
    let partRecords = NO_PARTS;
    if (parts.size > 0) {
      const own = new Map<string, PartBytes>();
      for (const [section, bytes] of parts) own.set(section, bytes.get(uid) as PartBytes);
      partRecords = own;
    }
    const message: MessageSections = { uid, parts: partRecords };
    if (body) message.body = body;
    if (header) message.header = header;
    sections.set(uid, message);
  }
  return { structures, sections };
}

/** One section of each message, as upstream gives it (cached as it came). */
async function wholeSections(generation: FolderGeneration, metas: MessageMeta[], section: string): Promise<Map<Uid, PartBytes>> {
  const bytes = new Map<Uid, PartBytes>();
  for (const [uid, record] of await generation.items.sections(metas, section, Priority.Client)) {
    bytes.set(uid, { record, start: 0, end: record.length, headerBlock: false });
  }
  return bytes;
}

/**
 * Header blocks: kept whole as HEADER sections (fetched alone, or copied when the whole body was
 * stored), else cut from a whole body cached before that copy was made, else fetched on their own.
 */
async function headerBlocks(generation: FolderGeneration, metas: MessageMeta[]) {
  const { store } = generation.account;
  const headers = new Map<Uid, SectionRecord>();
  const bodies = new Map<Uid, SectionRecord>();
  const kept = await store.getSections(generation.fid, metas.map((m) => ({ uid: m.uid, section: HEADER_BLOCK })), { readAhead: true });
  const withoutHeader = splitCached(metas, kept, headers);
  if (withoutHeader.length === 0) return { bodies, headers };
  const cachedBodies = await store.getSections(generation.fid, withoutHeader.map((m) => ({ uid: m.uid, section: FULL_BODY })), { readAhead: true });
  const without = splitCached(withoutHeader, cachedBodies, bodies);
  if (without.length > 0) for (const [uid, record] of await generation.items.sections(without, HEADER_BLOCK, Priority.Client)) headers.set(uid, record);
  return { bodies, headers };
}
