import { createHash, type Hash } from 'node:crypto';
import { BODY_CHUNK_SIZE, SECTION_INLINE_MAX } from '../model/limits.js';
import type { AccountId, Uid } from '../model/types.js';
import { contentIdOf, type BodyContents } from './body-contents.js';
import { toChunks, type BodyStore } from './body-store.js';
import { HeaderBoundaryScanner, headerLengthOf } from './header-boundary.js';
import { FULL_BODY, HEADER_BLOCK, keys } from './keys.js';
import { encodeSection, type ChunkRange, type SectionRecord } from './records.js';
import type { BatchOp, WriteQueue } from './write-queue.js';


/**
 * Where a section's header block ends: found by scanning (a whole message), the whole section
 * (a header block fetched on its own), or not applicable (a MIME part's content).
 */
export type HeaderRule = 'scan' | 'all' | 'none';

export function headerLengthFor(rule: HeaderRule, bytes: Buffer): number {
  return rule === 'scan' ? headerLengthOf(bytes) : rule === 'all' ? bytes.length : -1;
}

/** Where one section goes: the bodies database for bytes, the metadata queue for its record (a whole body's through its content). */
export interface SectionTarget {
  bodies: BodyStore;
  meta: WriteQueue;
  contents: BodyContents;
  /** The account the folder generation belongs to: a whole body is stored once per account. */
  acct: AccountId;
  fid: string;
  uid: Uid;
  section: string;
}

const recordOp = (target: SectionTarget, record: SectionRecord, section = target.section): BatchOp => ({
  type: 'put',
  key: keys.section(target.fid, target.uid, section),
  value: encodeSection(record),
});

/** A section small enough lives in its record alone (never a whole message: see SECTION_INLINE_MAX). */
const keptWhole = (target: SectionTarget, length: number) => target.section !== FULL_BODY && length <= SECTION_INLINE_MAX;

/**
 * A whole message's small header block is also kept whole, as its HEADER section, written with
 * the body's record: header fetches then read one small record per message.
 */
export function headerBlockOps(fid: string, uid: Uid, record: SectionRecord, firstBytes: Buffer): BatchOp[] {
  const headerLength = record.headerLength;
  if (headerLength <= 0 || headerLength > SECTION_INLINE_MAX || firstBytes.length < headerLength) return [];
  const header: SectionRecord = { length: headerLength, headerLength, chunks: [], inline: firstBytes.subarray(0, headerLength) };
  return [{ type: 'put', key: keys.section(fid, uid, HEADER_BLOCK), value: encodeSection(header) }];
}

/**
 * Makes a section visible once its chunks are written: a whole body as a reference to its
 * content (stored once, body-contents.ts), with its header block; another section as its record.
 * Resolves with the record written; its chunks are settled then, whatever became of them.
 */
async function commit(target: SectionTarget, record: SectionRecord, firstBytes: Buffer): Promise<SectionRecord> {
  try {
    if (target.section !== FULL_BODY) {
      await target.meta.write([recordOp(target, record)]);
      return record;
    }
    const key = keys.section(target.fid, target.uid, FULL_BODY);
    return await target.contents.storeBody(key, record, (stored) => headerBlockOps(target.fid, target.uid, stored, firstBytes));
  } finally {
    target.bodies.settle(record.chunks);
  }
}

/**
 * Stores a section whose bytes are in memory (from a batched upstream fetch). Returns at once
 * with a record that carries the bytes, for a client waiting on them; `written` resolves when
 * the section is readable from the cache: chunks first, then the record that makes them visible.
 * A whole body whose content is stored already (the same message in another folder) is a
 * reference to it, and none of its bytes is written.
 */
export function storeSection(target: SectionTarget, bytes: Buffer, headerLength: number): { record: SectionRecord; written: Promise<void> } {
  if (keptWhole(target, bytes.length)) {
    // a copy: the bytes are a view into a larger upstream response, which the record would keep alive
    const record: SectionRecord = { length: bytes.length, headerLength, chunks: [], inline: Buffer.from(bytes) };
    return { record, written: target.meta.write([recordOp(target, record)]) };
  }
  const record: SectionRecord = { length: bytes.length, headerLength, chunks: [] };
  if (target.section !== FULL_BODY) return { record: { ...record, inline: bytes }, written: appendAndCommit(target, record, bytes) };
  record.content = { account: target.acct, digest: createHash('sha256').update(bytes).digest() };
  return { record: { ...record, inline: bytes }, written: storeBody(target, record, bytes) };
}

/** A whole body in memory: a reference to its content if that is stored, else its chunks and then its record. */
async function storeBody(target: SectionTarget, record: SectionRecord, bytes: Buffer): Promise<void> {
  const id = contentIdOf(record) as string;
  if (await target.contents.isStored(id)) {
    const key = keys.section(target.fid, target.uid, FULL_BODY);
    // undefined: gone meanwhile, written after all
    if (await target.contents.linkBody(key, id, (stored) => headerBlockOps(target.fid, target.uid, stored, bytes))) return;
  }
  await appendAndCommit(target, record, bytes);
}

/** Appends a section's bytes as chunks (at once: in call order) and makes it visible once they are written. */
async function appendAndCommit(target: SectionTarget, record: SectionRecord, bytes: Buffer): Promise<void> {
  const { range, written } = target.bodies.append(toChunks(bytes));
  const chunks = range.count ? [range] : [];
  try {
    await written;
  } catch (err) {
    target.bodies.settle(chunks);
    throw err;
  }
  await commit(target, { ...record, chunks }, bytes);
}

/**
 * Streams a section of unknown size into the cache, one chunk in memory at a time. Chunks are
 * appended as they fill; the record is written only after all of them, so a crash leaves at
 * most unreferenced chunks, never a section that looks complete and is not.
 */
export class SectionWriter {
  private chunk = Buffer.allocUnsafe(BODY_CHUNK_SIZE);
  private filled = 0;
  private length = 0;
  private readonly ranges: ChunkRange[] = [];
  private readonly chunkWrites: Promise<void>[] = [];
  private readonly scanner: HeaderBoundaryScanner | undefined;
  /** A whole body's SHA-256, computed as its bytes pass (unless given): it is stored by content. */
  private readonly hash: Hash | undefined;
  /** The section's first SECTION_INLINE_MAX bytes, copied: a whole message's header block may be kept whole. */
  private readonly head = Buffer.allocUnsafe(SECTION_INLINE_MAX);

  /** `digest`: a whole body's SHA-256 computed before (an APPEND's, as the client's bytes came). */
  constructor(
    private readonly target: SectionTarget,
    private readonly headerRule: HeaderRule,
    private readonly digest?: Buffer,
  ) {
    this.scanner = headerRule === 'scan' ? new HeaderBoundaryScanner() : undefined;
    this.hash = target.section === FULL_BODY && !digest ? createHash('sha256') : undefined;
  }

  async write(data: Buffer): Promise<void> {
    this.scanner?.push(data);
    this.hash?.update(data);
    if (this.length < SECTION_INLINE_MAX) data.copy(this.head, this.length, 0, SECTION_INLINE_MAX - this.length);
    this.length += data.length;
    let pos = 0;
    while (pos < data.length) {
      if (this.filled === BODY_CHUNK_SIZE) await this.flushChunk();
      if (this.filled === 0 && data.length - pos > BODY_CHUNK_SIZE) {
        // a whole chunk inside the piece: append a view of it, no copy (partials are chunk-aligned)
        await this.appendChunk(data.subarray(pos, pos + BODY_CHUNK_SIZE));
        pos += BODY_CHUNK_SIZE;
        continue;
      }
      const take = Math.min(BODY_CHUNK_SIZE - this.filled, data.length - pos);
      data.copy(this.chunk, this.filled, pos, pos + take);
      this.filled += take;
      pos += take;
    }
  }

  /** Makes the section visible once every chunk is written. */
  async end(): Promise<SectionRecord> {
    if (this.filled > 0) await this.flushChunk();
    await Promise.all(this.chunkWrites.splice(0));
    const found = this.scanner?.headerLength ?? -1;
    const headerLength = this.headerRule === 'scan' ? (found < 0 ? this.length : found) : this.headerRule === 'all' ? this.length : -1;
    const record: SectionRecord = { length: this.length, headerLength, chunks: this.ranges };
    const digest = this.target.section === FULL_BODY ? (this.digest ?? this.hash?.digest()) : undefined;
    if (digest) record.content = { account: this.target.acct, digest };
    return commit(this.target, record, this.head.subarray(0, Math.min(this.length, SECTION_INLINE_MAX)));
  }

  /** Gives the section up (its source failed or went away): the chunks written are dropped. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.chunkWrites.splice(0));
    this.target.bodies.settle(this.ranges);
    await this.target.bodies.drop(this.ranges);
  }

  private async flushChunk(): Promise<void> {
    const full = this.chunk.subarray(0, this.filled);
    this.chunk = Buffer.allocUnsafe(BODY_CHUNK_SIZE);
    this.filled = 0;
    await this.appendChunk(full);
  }

  private async appendChunk(chunk: Buffer): Promise<void> {
    await this.target.bodies.space();
    const { range, written } = this.target.bodies.append([chunk]);
    written.catch(() => undefined); // reported by end()
    this.chunkWrites.push(written);
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.start + last.count === range.start) last.count++;
    else this.ranges.push(range);
  }
}
