import { createHash } from 'node:crypto';
import type { Level } from 'level';
import { BODY_CHUNK_SIZE, CHUNKS_PER_READ, MAX_LISTED_PROBLEMS, VERIFY_BATCH } from '../model/limits.js';
import { contentIdOf, type BodyContents } from './body-contents.js';
import type { BodyStore } from './body-store.js';
import { generations, sectionBatches, type SectionEntry, type Snapshot } from './cache-scan.js';
import { checkRefCounts, dropStaleMessageIds, storedContents } from './content-verify.js';
import { FULL_BODY, HEADER_BLOCK, keys, parseContentId, sectionKeyPart } from './keys.js';
import { decodePartIndex, partIndexFault } from './part-index.js';
import { decodeContent, decodeMeta, decodeSection, decodeStructure, encodeStructure, type ChunkRange, type ContentRecord, type SectionRecord } from './records.js';
import type { BatchOp } from './write-queue.js';

/** One cached section that is not what it should be. */
export interface VerifyProblem {
  /** Account user and folder the section belongs to. */
  user: string;
  folder: string;
  uid: number;
  /** The section as a FETCH item names it: BODY[], BODY[HEADER], BODY[1.2], ... */
  section: string;
  problem: string;
}

export interface VerifyResult {
  /** Section records checked, and the bytes they hold. */
  sections: number;
  bytes: number;
  /** Whole bodies among them whose length was compared with RFC822.SIZE. */
  bodies: number;
  /** The problems found, all of them counted, the first MAX_LISTED_PROBLEMS listed. */
  problemCount: number;
  problems: VerifyProblem[];
  /** Chunks in the bodies database that no section or content record refers to (a crash between the two writes). */
  orphanChunks: number;
  /** Folder generations that neither a folder record nor the deletion list names. */
  strayGenerations: number;
  /** Whole bodies stored by content (once for every folder that has them) checked, and their bytes. */
  contents: number;
  contentBytes: number;
  /** Contents whose reference count is not the number of section records that refer to them. */
  wrongRefCounts: number;
  /** Gmail message ids noted for contents no longer stored (hints only: dropped by --repair). */
  staleMessageIds: number;
  /** Whether the problems, orphans and strays found were dropped. */
  repaired: boolean;
}

/** Where a folder generation belongs: its account's user and its path, or a generation being deleted. */
export type GenerationOwner = { user: string; folder: string } | 'dropped';

/** What verify needs of the store: its databases, and the means to drop what it finds wrong. */
export interface VerifyTarget {
  db: Level<string, Buffer>;
  bodies: BodyStore;
  /** Who owns each folder generation, read from the scan's snapshot. */
  owners(snapshot: Snapshot): Promise<Map<string, GenerationOwner>>;
  dropGeneration(fid: string): Promise<void>;
  /** Writes to the metadata database, in order with every other write. */
  batch(ops: BatchOp[]): Promise<void>;
  /** Deletes section records with the references they hold, and corrects reference counts. */
  contents: BodyContents;
}


const sectionName = (part: string) => (part === FULL_BODY ? 'BODY[]' : part.startsWith('q') ? `BODY[<hashed ${part}>]` : `BODY[${part}]`);

/**
 * Checks every cached section: its record is readable, its chunks are all there and add up to
 * its length, and a whole body's length is the message's RFC822.SIZE; and that a body's part
 * index fits it (a wrong one is dropped, to be built again). A whole body stored by content is
 * checked once, however many folders refer to it: its chunks, and that its bytes hash to its
 * digest; each record that refers to it, that it is there with the same chunks; and its count,
 * that it is the number of records that refer to it. Also finds chunks no record refers to and
 * generations no folder owns. With `repair`, drops all of those and corrects the counts (a
 * dropped body is fetched from upstream again when next asked for).
 *
 * Safe on a running proxy: metadata is read from one snapshot, chunks written after the scan
 * began or still in flight are never taken for orphans, and a problem is confirmed on the live
 * record (an expunge or clear meanwhile is not a problem) before it is reported or repaired.
 */
export function verifyCache(target: VerifyTarget, repair: boolean): Promise<VerifyResult> {
  return scanCache(target, { checkSections: true, repair });
}

/**
 * Drops the chunks no section or content record refers to (a crash between writing a section's
 * chunks and its record leaves them) and generations no folder owns, corrects reference counts
 * and drops stale Gmail message ids, without reading any body: cheap enough for every start.
 * Returns what it found.
 */
export function sweepOrphans(target: VerifyTarget): Promise<VerifyResult> {
  return scanCache(target, { checkSections: false, repair: true });
}

async function scanCache(target: VerifyTarget, options: { checkSections: boolean; repair: boolean }): Promise<VerifyResult> {
  const { db, bodies } = target;
  const { repair } = options;
  // chunks below this are settled: their record, if any, is written before the snapshot below
  const settled = bodies.settledBelow();
  const snapshot = db.snapshot();
  const result: VerifyResult = {
    sections: 0, bytes: 0, bodies: 0, problemCount: 0, problems: [], orphanChunks: 0, strayGenerations: 0,
    contents: 0, contentBytes: 0, wrongRefCounts: 0, staleMessageIds: 0, repaired: repair,
  };
  const referenced = new RangeSet();
  const report = (problem: VerifyProblem) => {
    result.problemCount++;
    if (result.problems.length < MAX_LISTED_PROBLEMS) result.problems.push(problem);
  };
  try {
    // stored contents first: each checked once, the broken ones remembered for the records that refer to them
    const broken = new Map<string, string>();
    for await (const { id, content } of storedContents(db, snapshot)) {
      result.contents++;
      if (!content) {
        broken.set(id, 'unreadable content record');
        continue;
      }
      result.contentBytes += content.length;
      for (const range of content.chunks) referenced.add(range);
      const problem = options.checkSections ? await chunkProblem(bodies, content, parseContentId(id).digest) : undefined;
      if (problem) broken.set(id, problem);
    }
    const owners = await target.owners(snapshot);
    const fids = await generations(db, snapshot);
    for (const fid of fids) {
      const owner = owners.get(fid);
      if (!owner) {
        result.strayGenerations++;
        if (repair) await target.dropGeneration(fid);
      }
      const checked = options.checkSections && owner !== 'dropped' && owner !== undefined;
      for await (const batch of sectionBatches(db, snapshot, fid)) {
        const metas = checked ? await db.getMany(batch.map((s) => keys.meta(fid, s.uid)), { snapshot, valueEncoding: 'utf8' } as never) : [];
        const structures = checked ? await db.getMany(batch.map((s) => keys.structure(fid, s.uid)), { snapshot } as never) : [];
        const records = batch.map((entry) => tryDecode(entry.value));
        const ids = records.map((record) => (record ? contentIdOf(record) : undefined));
        const contents = checked ? await db.getMany(ids.map((id) => keys.content(id ?? '')), { snapshot } as never) : [];
        for (const [i, entry] of batch.entries()) {
          const record = records[i];
          if (record) for (const range of record.chunks) referenced.add(range);
          if (!checked) continue;
          result.sections++;
          if (record) result.bytes += record.length;
          if (entry.part === FULL_BODY) result.bodies++;
          const meta = metas[i] as unknown as string | undefined;
          const structure = structures[i];
          if (record && entry.part === FULL_BODY && structure) {
            const fault = partIndexProblem(structure, record.length);
            const key = keys.structure(fid, entry.uid);
            if (fault && (await db.get(key))?.equals(structure)) {
              report({ user: owner.user, folder: owner.folder, uid: entry.uid, section: 'part index', problem: fault });
              if (repair) await target.batch([{ type: 'put', key, value: encodeStructure({ ...decodeStructure(structure), parts: undefined }) }]);
            }
          }
          const size = meta === undefined ? undefined : decodeMeta(entry.uid, meta).size;
          const id = ids[i];
          const problem = !record
            ? 'unreadable section record'
            : (recordProblem(record, entry.part, size) ?? (id ? referenceProblem(record, contents[i], broken.get(id)) : await chunkProblem(bodies, record)));
          if (!problem || !(await stillSame(db, entry))) continue;
          report({ user: owner.user, folder: owner.folder, uid: entry.uid, section: sectionName(entry.part), problem });
          if (repair) await target.contents.release([entry.key]);
        }
      }
    }
    result.wrongRefCounts = await checkRefCounts({ db, snapshot, fids, contents: result.contents, repair: repair ? target.contents : undefined });
    result.staleMessageIds = await dropStaleMessageIds(db, snapshot, repair ? (ops) => target.batch(ops) : undefined);
    const orphans: ChunkRange[] = [];
    for await (const seq of bodies.unclaimedChunks(settled, (seq) => referenced.claimedUntil(seq))) {
      result.orphanChunks++;
      const last = orphans[orphans.length - 1];
      if (last && last.start + last.count === seq) last.count++;
      else orphans.push({ start: seq, count: 1 });
      if (repair && orphans.length >= VERIFY_BATCH) await bodies.drop(orphans.splice(0));
    }
    if (repair) {
      await bodies.drop(orphans);
      if (result.problemCount > 0 || result.orphanChunks > 0 || result.wrongRefCounts > 0) await bodies.compact();
    }
  } finally {
    await snapshot.close();
  }
  return result;
}

function tryDecode(value: Buffer): SectionRecord | undefined {
  try {
    return decodeSection(value);
  } catch {
    return undefined;
  }
}

/** What is wrong with a section record against its message, or undefined. `size` is the message's RFC822.SIZE, if it is cached. */
function recordProblem(record: SectionRecord, part: string, size: number | undefined): string | undefined {
  if (size === undefined) return 'no cached message for this section';
  if (part === FULL_BODY && record.length !== size) return `${record.length} bytes cached, RFC822.SIZE is ${size}`;
  if (part === sectionKeyPart(HEADER_BLOCK) && record.length > size) return `header of ${record.length} bytes is longer than RFC822.SIZE ${size}`;
  if (record.headerLength > record.length) return `header length ${record.headerLength} is beyond the section's ${record.length} bytes`;
  return undefined;
}

/** What is wrong with a record of a body stored by content, against that content (as the snapshot has it) and what its check found. */
function referenceProblem(record: SectionRecord, value: Buffer | undefined, contentProblem: string | undefined): string | undefined {
  if (!value) return 'the stored body it refers to is missing';
  if (contentProblem) return contentProblem;
  const content = tryDecodeContent(value);
  const same = content?.length === record.length && JSON.stringify(content.chunks) === JSON.stringify(record.chunks);
  return same ? undefined : 'its chunks are not those of the stored body it refers to';
}

function tryDecodeContent(value: Buffer): ContentRecord | undefined {
  try {
    return decodeContent(value);
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a section's bytes, or undefined: its chunks are all there and add up to its
 * length; with `digest` (a stored content), they also hash to it.
 */
async function chunkProblem(bodies: BodyStore, record: { length: number; chunks: ChunkRange[]; inline?: Buffer }, digest?: Buffer): Promise<string | undefined> {
  const inline = record.inline;
  if (record.chunks.length === 0 && inline?.length === record.length) return undefined; // kept whole in its record
  const seqs = record.chunks.flatMap((range) => Array.from({ length: range.count }, (_, i) => range.start + i));
  if (seqs.length !== Math.ceil(record.length / BODY_CHUNK_SIZE)) return `${seqs.length} chunks for ${record.length} bytes`;
  const hash = digest ? createHash('sha256') : undefined;
  let bytes = 0;
  for (let at = 0; at < seqs.length; at += CHUNKS_PER_READ) {
    const batch = seqs.slice(at, at + CHUNKS_PER_READ);
    for (const [i, chunk] of (await bodies.getChunks(batch)).entries()) {
      if (!chunk) return `chunk ${at + i + 1} of ${seqs.length} is missing`;
      const last = at + i === seqs.length - 1;
      if (!last && chunk.length !== BODY_CHUNK_SIZE) return `chunk ${at + i + 1} of ${seqs.length} holds ${chunk.length} bytes`;
      hash?.update(chunk);
      bytes += chunk.length;
    }
  }
  if (bytes !== record.length) return `chunks hold ${bytes} bytes, the record says ${record.length}`;
  return hash && !hash.digest().equals(digest as Buffer) ? 'its bytes do not hash to its SHA-256' : undefined;
}

/** What is wrong with the part index kept in a structure record, for a body of this length, or undefined. */
function partIndexProblem(structure: Buffer, bodyLength: number): string | undefined {
  try {
    const parts = decodeStructure(structure).parts;
    return parts ? partIndexFault(decodePartIndex(parts), bodyLength) : undefined;
  } catch {
    return 'unreadable part index';
  }
}

/** The record is still there, unchanged: a problem seen in the snapshot is not a concurrent expunge or clear. */
async function stillSame(db: Level<string, Buffer>, entry: SectionEntry): Promise<boolean> {
  const live = await db.get(entry.key);
  return live?.equals(entry.value);
}

/** Chunk ranges, merged as they are added (bodies are written in runs, so few ranges remain). */
class RangeSet {
  private ranges: ChunkRange[] = [];
  private sorted = true;
  private cursor = 0;

  add(range: ChunkRange): void {
    if (range.count === 0) return;
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.start + last.count === range.start) {
      last.count += range.count;
      return;
    }
    if (last && range.start < last.start) this.sorted = false;
    this.ranges.push({ ...range });
  }

  /** The end of the range that holds seq, if one does; asked in ascending seq order, so a cursor walks the ranges once. */
  claimedUntil(seq: number): number | undefined {
    if (!this.sorted) this.normalize();
    let range = this.ranges[this.cursor];
    while (range && seq >= range.start + range.count) range = this.ranges[++this.cursor];
    return range !== undefined && seq >= range.start ? range.start + range.count : undefined;
  }

  private normalize(): void {
    this.ranges.sort((a, b) => a.start - b.start);
    const merged: ChunkRange[] = [];
    for (const range of this.ranges) {
      const last = merged[merged.length - 1];
      if (last && range.start <= last.start + last.count) last.count = Math.max(last.count, range.start + range.count - last.start);
      else merged.push(range);
    }
    this.ranges = merged;
    this.sorted = true;
    this.cursor = 0;
  }
}
