import { structureNodes, type StructureNode } from '../cache/body-structure.js';
import type { CacheStore, SectionRecord } from '../cache/cache-store.js';
import { FULL_BODY } from '../cache/keys.js';
import { decodePartIndex, encodePartIndex, partIndexFault, partIndexOf, partRange, UPSTREAM_PARSED, type PartIndex } from '../cache/part-index.js';
import { PartScanner, type ScanResult } from '../cache/part-scanner.js';
import type { MessageMeta, MessageStructure, Uid } from '../model/types.js';
import type { Priority } from '../upstream/connection-pool.js';
import type { GenerationContext } from './account-context.js';
import type { FolderGeneration } from './generation.js';

/** A MIME part section a FETCH asks for: `section` as upstream spells it, `path` its part number, `type` what of the part (content, mime, header, text, header.fields, header.fields.not). */
export interface PartRequest {
  section: string;
  path: string;
  type: string;
}

/** A part section's bytes: a range of a cached section. `headerBlock`: a whole header block, the fields asked for still to be picked. */
export interface PartBytes {
  record: SectionRecord;
  start: number;
  end: number;
  headerBlock: boolean;
}

const FIELDS = new Set(['header.fields', 'header.fields.not']);

/**
 * The part sections of a FETCH, per section and message. Where the whole body is cached, a part
 * is a byte range of it found through the message's part index (built from upstream's
 * BODYSTRUCTURE and one scan of the body, as the body was stored or now); elsewhere, and for a message whose scan
 * disagreed with upstream's sizes, the section comes from upstream, cached as it came. A message
 * is left out of a section's map when upstream no longer has it.
 */
export async function partSections(
  generation: FolderGeneration,
  metas: readonly MessageMeta[],
  requests: readonly PartRequest[],
  priority: Priority,
): Promise<Map<string, Map<Uid, PartBytes>>> {
  const indexed = await indexedBodies(generation, metas, priority);
  const result = new Map<string, Map<Uid, PartBytes>>();
  const { served } = generation.account;
  for (const request of requests) {
    const bytes = new Map<Uid, PartBytes>();
    result.set(request.section, bytes);
    const fromUpstream: MessageMeta[] = [];
    for (const meta of metas) {
      const found = indexed.get(meta.uid);
      const range = found?.index.scanned ? partRange(found.index, request.path, request.type) : undefined;
      if (found && range) bytes.set(meta.uid, { record: found.body, start: range.start, end: range.end, headerBlock: !!range.headerBlock && FIELDS.has(request.type) });
      else fromUpstream.push(meta);
    }
    served.noteParts('cache', bytes.size);
    if (fromUpstream.length === 0) continue;
    served.noteParts('upstream', fromUpstream.length);
    for (const [uid, record] of await generation.items.sections(fromUpstream, request.section, priority)) {
      bytes.set(uid, { record, start: 0, end: record.length, headerBlock: false });
    }
  }
  return result;
}

/** A cached whole body with its part index and upstream's BODYSTRUCTURE. */
export interface IndexedBody {
  body: SectionRecord;
  index: PartIndex;
  bodystructure: Buffer;
}

/**
 * The cached bodies of these messages and their part indexes, built where missing. With a
 * priority, BODYSTRUCTUREs not cached are asked of upstream; without, the cache alone answers.
 */
export async function indexedBodies(generation: FolderGeneration, metas: readonly MessageMeta[], priority?: Priority): Promise<Map<Uid, IndexedBody>> {
  const { store, log } = generation.account;
  const fid = generation.fid;
  const result = new Map<Uid, IndexedBody>();
  const bodies = await store.getSections(fid, metas.map((m) => ({ uid: m.uid, section: FULL_BODY })), { readAhead: true });
  const bodyOf = new Map<Uid, SectionRecord>();
  metas.forEach((meta, i) => bodies[i] && bodyOf.set(meta.uid, bodies[i]));
  const withBody = metas.filter((meta) => bodyOf.has(meta.uid));
  if (withBody.length === 0) return result;
  const structures = await structuresOf(generation, withBody, priority);
  const built: { uid: Uid; structure: MessageStructure }[] = [];
  for (const meta of withBody) {
    const body = bodyOf.get(meta.uid) as SectionRecord;
    const structure = structures.get(meta.uid);
    if (!structure?.bodystructure) continue;
    let index = structure.parts ? storedIndex(structure.parts, body) : undefined;
    if (!index) {
      index = await indexBody(generation, body, structure.bodystructure, meta.uid);
      built.push({ uid: meta.uid, structure: { ...structure, parts: encodePartIndex(index) } });
    }
    result.set(meta.uid, { body, index, bodystructure: structure.bodystructure });
  }
  if (built.length) await store.putStructures(fid, built).catch((err: unknown) => log.warn({ err, folder: generation.path }, 'part indexes could not be cached'));
  return result;
}

/** A stored part index that fits the body, or undefined (built again). */
function storedIndex(value: Buffer, body: SectionRecord): PartIndex | undefined {
  try {
    const index = decodePartIndex(value);
    return partIndexFault(index, body.length) ? undefined : index;
  } catch {
    return undefined;
  }
}

/** BODYSTRUCTUREs from the cache, else (with a priority) from upstream; none where upstream cannot be asked (the sections then fail as upstream does). */
async function structuresOf(generation: FolderGeneration, metas: readonly MessageMeta[], priority: Priority | undefined): Promise<Map<Uid, MessageStructure>> {
  const cached = await generation.account.store.getStructures(generation.fid, metas.map((m) => m.uid));
  const result = new Map<Uid, MessageStructure>();
  const missing: MessageMeta[] = [];
  metas.forEach((meta, i) => {
    const structure = cached[i];
    if (structure?.bodystructure) result.set(meta.uid, structure);
    else missing.push(meta);
  });
  if (missing.length === 0 || priority === undefined) return result;
  try {
    for (const [uid, structure] of await generation.items.structures(missing, ['bodystructure'], priority)) result.set(uid, structure);
  } catch {
    // offline: these messages' parts go the upstream way and get its answer
  }
  return result;
}

/**
 * Part indexes built as bodies are stored: a batch of bodies about to be fetched whole reads the
 * cached structures of those without an index while upstream is asked (not before: a client
 * waits on that fetch); each body that then arrives in one piece is scanned from the bytes in
 * hand (no read back), and the indexes are stored together.
 */
export class FreshBodyIndexer {
  private readonly built: Promise<{ uid: Uid; structure: MessageStructure } | undefined>[] = [];
  private readonly structures: Promise<Map<Uid, MessageStructure>>;

  constructor(
    private readonly generation: GenerationContext,
    uids: readonly Uid[],
  ) {
    this.structures = generation.account.store.getStructures(generation.fid, uids).then((cached) => {
      const structures = new Map<Uid, MessageStructure>();
      uids.forEach((uid, i) => {
        const structure = cached[i];
        if (structure?.bodystructure && !structure.parts) structures.set(uid, structure);
      });
      return structures;
    });
    this.structures.catch(() => undefined); // reported by store()
  }

  /** A body arrived: indexed if its bytes are in hand and its structure known. */
  add(uid: Uid, record: SectionRecord | undefined): void {
    if (!record?.inline) return;
    this.built.push(
      this.structures.then(async (structures) => {
        const structure = structures.get(uid);
        if (!structure?.bodystructure) return undefined;
        const index = await indexBody(this.generation, record, structure.bodystructure, uid);
        return { uid, structure: { ...structure, parts: encodePartIndex(index) } };
      }),
    );
  }

  /** Stores the indexes built; never rejects (a failure costs only a scan on first use). */
  async store(): Promise<void> {
    const { store, log } = this.generation.account;
    try {
      const built = (await Promise.all(this.built)).filter((entry) => entry !== undefined);
      if (built.length > 0) await store.putStructures(this.generation.fid, built);
    } catch (err) {
      log.warn({ err, folder: this.generation.path }, 'part indexes could not be cached');
    }
  }
}

/** One streaming pass over a cached body (none where its bytes are in hand); upstream's sizes decide whether the scan is to be trusted. */
async function indexBody(generation: GenerationContext, body: SectionRecord, bodystructure: Buffer, uid: Uid): Promise<PartIndex> {
  const { store, log } = generation.account;
  let nodes: StructureNode[];
  try {
    nodes = structureNodes(bodystructure);
  } catch (err) {
    log.debug({ err, folder: generation.path, uid }, 'BODYSTRUCTURE not understood: parts come from upstream');
    return UPSTREAM_PARSED;
  }
  const scan = await scanBody(store, body, nodes);
  if ('mismatch' in scan) {
    log.debug({ folder: generation.path, uid, mismatch: scan.mismatch }, 'upstream parsed this message differently: its parts come from upstream');
    return UPSTREAM_PARSED;
  }
  return partIndexOf(nodes, scan.spans);
}

async function scanBody(store: CacheStore, body: SectionRecord, nodes: StructureNode[]): Promise<ScanResult> {
  const scanner = new PartScanner(nodes);
  // a message of one part has nothing to look for beyond its header's end, already known
  if (nodes.length === 1 && body.headerLength >= 0) return scanner.finishAt(body.headerLength, body.length);
  for await (const chunk of store.scanSection(body)) scanner.push(chunk);
  return scanner.finish(body.length);
}
