// A cache as the proxy wrote it before bodies were stored by content (up to commit 61bd1b9):
// every whole body's section record (format 'T') points at chunks of its own, appended to the
// bodies database under sequence numbers that only grow, its header block kept whole beside it;
// the same message in two folders is stored twice.
import { mkdir } from 'node:fs/promises';
import { toChunks } from '../../src/cache/body-store.js';
import { headerLengthOf } from '../../src/cache/header-boundary.js';
import { FULL_BODY, HEADER_BLOCK, keys, prefixEnd } from '../../src/cache/keys.js';
import { decodeContent, decodeSection, encodeMeta, encodeSection, type SectionRecord } from '../../src/cache/records.js';
import { SECTION_INLINE_MAX } from '../../src/model/limits.js';
import { withRawCache } from './cache-store.js';

export interface LegacyMessage {
  fid: string;
  uid: number;
  body: Buffer;
}

/** body-store.ts's chunk keys: the sequence number in fixed-width hex. */
const chunkKey = (seq: number) => seq.toString(16).padStart(12, '0');

/** Adds these messages (metadata, whole body, header block) to the cache in `dir`, which must not be open, the old way. */
export async function writeLegacyCache(dir: string, messages: readonly LegacyMessage[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await withRawCache(dir, async (meta, bodies) => {
    let seq = 0;
    for await (const key of bodies.keys({ reverse: true, limit: 1 })) seq = parseInt(key, 16) + 1;
    for (const { fid, uid, body } of messages) {
      const pieces = toChunks(body);
      await bodies.batch(pieces.map((value, i) => ({ type: 'put' as const, key: chunkKey(seq + i), value })));
      const headerLength = headerLengthOf(body);
      const record: SectionRecord = { length: body.length, headerLength, chunks: pieces.length ? [{ start: seq, count: pieces.length }] : [] };
      seq += pieces.length;
      const ops = [
        { type: 'put' as const, key: keys.meta(fid, uid), value: Buffer.from(encodeMeta({ uid, flags: [], modseq: '1', size: body.length, internalDate: '01-Jan-2025 00:00:00 +0000' })) },
        { type: 'put' as const, key: keys.section(fid, uid, FULL_BODY), value: encodeSection(record) },
      ];
      if (headerLength > 0 && headerLength <= SECTION_INLINE_MAX) {
        const header: SectionRecord = { length: headerLength, headerLength, chunks: [], inline: body.subarray(0, headerLength) };
        ops.push({ type: 'put', key: keys.section(fid, uid, HEADER_BLOCK), value: encodeSection(header) });
      }
      await meta.batch(ops);
    }
  });
}

/**
 * Turns a closed cache into what the proxy wrote before bodies were stored by content: each whole
 * body's record gets chunks of its own (a copy of its content's, one chunk at a time), and the
 * content records, their chunks, the Gmail message ids and the mark of a finished migration go.
 */
export async function toLegacyLayout(dir: string): Promise<void> {
  await withRawCache(dir, async (meta, bodies) => {
    let seq = 0;
    for await (const key of bodies.keys({ reverse: true, limit: 1 })) seq = parseInt(key, 16) + 1;
    for await (const [key, value] of meta.iterator({ gte: 'x!', lt: prefixEnd('x!') })) {
      if (!key.includes('!h!') || !key.endsWith(`!${FULL_BODY}`)) continue;
      const record = decodeSection(value);
      if (!record.content) continue;
      const first = seq;
      for (const range of record.chunks) {
        for (let i = 0; i < range.count; i++) await bodies.put(chunkKey(seq++), (await bodies.get(chunkKey(range.start + i))) as Buffer);
      }
      const chunks = seq > first ? [{ start: first, count: seq - first }] : [];
      await meta.put(key, encodeSection({ length: record.length, headerLength: record.headerLength, chunks }));
    }
    const contents = keys.contentPrefix();
    for await (const [key, value] of meta.iterator({ gte: contents, lt: prefixEnd(contents) })) {
      for (const range of decodeContent(value).chunks) await bodies.batch(Array.from({ length: range.count }, (_, i) => ({ type: 'del' as const, key: chunkKey(range.start + i) })));
      await meta.del(key);
    }
    await meta.clear({ gte: keys.messageIdPrefix(), lt: prefixEnd(keys.messageIdPrefix()) });
    await meta.del(keys.contentLayout());
  });
}
