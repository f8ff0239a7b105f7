import type { AccountId, FolderListEntry, MessageMeta, MessageStructure, Uid } from '../model/types.js';

/**
 * Cache records and their codecs. Small records are JSON with a version field; section records
 * and structures are binary because they carry raw bytes.
 */

export const RECORD_VERSION = 1;

export interface AccountRecord {
  v: number;
  upstream: string;
  user: string;
  /** The name clients log in with; absent in records of versions before accounts: the same as `user`. */
  name?: string;
  createdAt: number;
  /** Salted scrypt hash of the last password upstream accepted (for logins while it is unreachable). */
  passwordHash?: string;
  /** What upstream announced after the last login (what the proxy passes through depends on it, offline too). */
  upstreamCapabilities?: string[];
}

/** Message bytes an account downloaded on one day (local time), counted to keep within its budget (keys.ts `d!`). */
export interface DownloadRecord {
  v: number;
  /** YYYY-MM-DD */
  day: string;
  bytes: number;
}

export interface FolderListRecord {
  v: number;
  fetchedAt: number;
  folders: FolderListEntry[];
}

export interface FolderRecord {
  v: number;
  /** Generation id: all of the folder's data lives under x!<fid>!. */
  fid: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: string;
  /** Message count after the last completed sync. */
  messages: number;
  /** Keywords (non-system flags) upstream lists for the folder. */
  keywords: string[];
  /**
   * The folder's HIGHESTMODSEQ as clients see it (folder-modseq.ts): the proxy's own, which every
   * change it takes on raises, at least to upstream's. Absent in records of older versions.
   */
  modseq?: number;
  /**
   * The record of expunges (keys.ts `v`) holds every expunge above this modseq: the counter when
   * the generation was first filled (what went before that is not known one by one).
   */
  vanishedFrom?: number;
  /**
   * The modseq index (keys.ts `q`) holds every message whose modseq is above this: the counter
   * when the generation was started, or when a version that keeps the index first loaded it.
   */
  changesFrom?: number;
  /** Older versions' counter where upstream had no CONDSTORE; read only to carry it over. */
  localModseq?: number;
  /** When the folder was last brought up to date with upstream (ms since epoch), 0 = never. */
  lastSync: number;
}

/**
 * What a cleared folder cache leaves behind (keys.ts `w!`): the HIGHESTMODSEQ clients were last
 * told, so the generation that replaces it starts above it (RFC 7162: it never goes back while
 * UIDVALIDITY stays).
 */
export interface ModseqMark {
  uidValidity: number;
  modseq: number;
}

interface MetaJson {
  f: string[];
  m: string;
  s: number;
  d: string;
  /** X-GM-MSGID, where upstream has X-GM-EXT-1. */
  g?: string;
}

export function encodeMeta(meta: MessageMeta): string {
  const json: MetaJson = { f: meta.flags, m: meta.modseq, s: meta.size, d: meta.internalDate };
  if (meta.gmMsgId) json.g = meta.gmMsgId;
  return JSON.stringify(json);
}

export function decodeMeta(uid: Uid, value: string): MessageMeta {
  const json = JSON.parse(value) as MetaJson;
  const meta: MessageMeta = { uid, flags: json.f, modseq: json.m, size: json.s, internalDate: json.d };
  if (json.g) meta.gmMsgId = json.g;
  return meta;
}

const ABSENT = 0xffffffff;
const STRUCTURE_ITEMS = ['envelope', 'bodystructure', 'body', 'parts'] as const;

export function encodeStructure(structure: MessageStructure): Buffer {
  const parts: Buffer[] = [];
  for (const item of STRUCTURE_ITEMS) {
    const value = structure[item];
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value ? value.length : ABSENT);
    parts.push(length);
    if (value) parts.push(value);
  }
  return Buffer.concat(parts);
}

export function decodeStructure(value: Buffer): MessageStructure {
  const structure: MessageStructure = {};
  let pos = 0;
  // records written before the part index have three items
  for (const item of STRUCTURE_ITEMS) {
    if (pos === value.length) break;
    const length = value.readUInt32BE(pos);
    pos += 4;
    if (length !== ABSENT) {
      structure[item] = value.subarray(pos, pos + length);
      pos += length;
    }
  }
  return structure;
}

/** Consecutive chunks in the bodies database: keys start .. start+count-1. */
export interface ChunkRange {
  start: number;
  count: number;
}

/**
 * A cached section (the whole message, its header block, or a MIME part as upstream served it):
 * its length and where its chunks are. Its presence means the section is complete: it is
 * written only once every chunk is in the bodies database.
 */
export interface SectionRecord {
  length: number;
  /** Length of the header block including its empty line; -1 when not known for this section. */
  headerLength: number;
  chunks: ChunkRange[];
  /**
   * All of the section's bytes, kept in the record: a small section, stored without chunks; or,
   * on a record made in memory right after an upstream fetch, a section of any size (never
   * stored as such).
   */
  inline?: Buffer;
  /**
   * On a whole body stored by content: which content (its account's, with the SHA-256 of its
   * bytes). Its chunks are those of the content record (keys.ts `c!`), which counts the records
   * that refer to it; the record carries a copy of the ranges, so reading it takes no other
   * lookup. Absent on other sections and on whole bodies written before bodies were stored by
   * content (their chunks are their own).
   */
  content?: ContentRef;
}

/** A content as a section record names it (keys.ts contentId). */
export interface ContentRef {
  account: AccountId;
  digest: Buffer;
}

/** A whole body stored once for every section record of its account that refers to it (keys.ts `c!`). */
export interface ContentRecord {
  /** Section records that refer to it, in every folder generation (dropped ones not yet deleted included). */
  refs: number;
  length: number;
  headerLength: number;
  chunks: ChunkRange[];
}

const CHUNKED_MAGIC = 0x54; // 'T': record format 2 (chunks in the bodies database)
const INLINE_MAGIC = 0x55; // 'U': format 3, format 2 followed by the section's bytes
const CONTENT_MAGIC = 0x56; // 'V': format 4, format 2 followed by the SHA-256 of the bytes and the account (a body stored by content)
const SECTION_HEADER_SIZE = 13;
const RANGE_SIZE = 10;
const DIGEST_SIZE = 32;

export function encodeSection(record: SectionRecord): Buffer {
  const inline = record.inline;
  const content = inline ? undefined : record.content;
  const account = content ? Buffer.from(content.account) : undefined;
  const rangesEnd = SECTION_HEADER_SIZE + RANGE_SIZE * record.chunks.length;
  const value = Buffer.allocUnsafe(rangesEnd + (inline ? 4 + inline.length : 0) + (account ? DIGEST_SIZE + account.length : 0));
  value.writeUInt8(inline ? INLINE_MAGIC : content ? CONTENT_MAGIC : CHUNKED_MAGIC, 0);
  value.writeUInt32BE(record.length, 1);
  value.writeInt32BE(record.headerLength, 5);
  value.writeUInt32BE(record.chunks.length, 9);
  record.chunks.forEach((range, i) => {
    const at = SECTION_HEADER_SIZE + i * RANGE_SIZE;
    value.writeUIntBE(range.start, at, 6);
    value.writeUInt32BE(range.count, at + 6);
  });
  if (inline) {
    value.writeUInt32BE(inline.length, rangesEnd);
    inline.copy(value, rangesEnd + 4);
  }
  if (content && account) {
    content.digest.copy(value, rangesEnd);
    account.copy(value, rangesEnd + DIGEST_SIZE);
  }
  return value;
}

export function decodeSection(value: Buffer): SectionRecord {
  const magic = value.length >= SECTION_HEADER_SIZE ? value.readUInt8(0) : -1;
  if (magic !== CHUNKED_MAGIC && magic !== INLINE_MAGIC && magic !== CONTENT_MAGIC) throw new Error('not a section record');
  const count = value.readUInt32BE(9);
  const rangesEnd = SECTION_HEADER_SIZE + count * RANGE_SIZE;
  if (value.length < rangesEnd) throw new Error('section record cut short');
  const chunks: ChunkRange[] = [];
  for (let i = 0; i < count; i++) {
    const at = SECTION_HEADER_SIZE + i * RANGE_SIZE;
    chunks.push({ start: value.readUIntBE(at, 6), count: value.readUInt32BE(at + 6) });
  }
  const record: SectionRecord = { length: value.readUInt32BE(1), headerLength: value.readInt32BE(5), chunks };
  if (magic === INLINE_MAGIC) {
    const inlineLength = value.length >= rangesEnd + 4 ? value.readUInt32BE(rangesEnd) : -1;
    if (inlineLength < 0 || value.length !== rangesEnd + 4 + inlineLength || inlineLength > record.length) throw new Error('section record cut short');
    record.inline = value.subarray(rangesEnd + 4);
  }
  if (magic === CONTENT_MAGIC) {
    if (value.length <= rangesEnd + DIGEST_SIZE) throw new Error('section record cut short');
    record.content = { digest: value.subarray(rangesEnd, rangesEnd + DIGEST_SIZE), account: value.toString('utf8', rangesEnd + DIGEST_SIZE) };
  }
  return record;
}

/** A content record: its reference count, then its bytes' place as a section record (format 2). */
export function encodeContent(content: ContentRecord): Buffer {
  const section = encodeSection({ length: content.length, headerLength: content.headerLength, chunks: content.chunks });
  const value = Buffer.allocUnsafe(4 + section.length);
  value.writeUInt32BE(content.refs, 0);
  section.copy(value, 4);
  return value;
}

export function decodeContent(value: Buffer): ContentRecord {
  if (value.length < 4) throw new Error('content record cut short');
  const { length, headerLength, chunks, inline, content } = decodeSection(value.subarray(4));
  if (inline || content) throw new Error('not a content record');
  return { refs: value.readUInt32BE(0), length, headerLength, chunks };
}

/** A folder record's HIGHESTMODSEQ as clients see it (older records: what they announced then). */
export function clientModseq(record: FolderRecord): number {
  return record.modseq ?? Math.max(Number(record.highestModseq), record.localModseq ?? 0);
}
