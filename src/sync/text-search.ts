import { structureNodes } from '../cache/body-structure.js';
import type { CacheStore, SectionRecord } from '../cache/cache-store.js';
import type { PartRange } from '../cache/part-index.js';
import type { IndexedBody } from './part-sections.js';

/**
 * SEARCH BODY and TEXT over a cached message's raw bytes, for when upstream cannot be asked: a
 * case-insensitive (ASCII) substring search of the parts whose bytes are their text, nothing
 * decoded. What it finds there is found. Where it finds nothing, the answer is only certain if
 * every part it had to look in is 7bit, 8bit or binary and the string is ASCII; a base64 or
 * quoted-printable part (or a header with encoded words, for TEXT) hides text from a raw search,
 * and then the answer is undefined: the caller says the search needs the server.
 */
export async function rawTextContains(store: CacheStore, message: IndexedBody, key: 'BODY' | 'TEXT', needle: string): Promise<boolean | undefined> {
  const wanted = asciiLower(Buffer.from(needle, 'utf8'));
  const ascii = wanted.every((byte) => byte < 0x80);
  const nodes = structureNodes(message.bodystructure);
  let certain = ascii;
  const ranges: PartRange[] = [];
  if (key === 'TEXT') {
    const header = { start: 0, end: message.index.nodes[0]?.bodyStart ?? 0 };
    ranges.push(header);
    if (await rangeContains(store, message.body, header, Buffer.from('=?'))) certain = false;
  }
  for (const [i, node] of message.index.nodes.entries()) {
    if (nodes[i]?.kind !== 'leaf') continue;
    const encoding = nodes[i]?.encoding ?? '';
    const plain = encoding === '' || encoding === '7bit' || encoding === '8bit' || encoding === 'binary';
    // quoted-printable shows ASCII text as itself: what is found there is there (unless it spells an escape)
    const literal = plain || (encoding === 'quoted-printable' && ascii && !needle.includes('='));
    if (!plain) certain = false;
    if (literal) ranges.push({ start: node.bodyStart, end: node.end });
  }
  for (const range of ranges) if (await rangeContains(store, message.body, range, wanted)) return true;
  return certain ? false : undefined;
}

/** Whether the bytes of `range` contain `wanted` (lower-case ASCII), read in pieces with an overlap. */
async function rangeContains(store: CacheStore, body: SectionRecord, range: PartRange, wanted: Buffer): Promise<boolean> {
  if (wanted.length === 0) return true;
  const content = await store.openSection(body, range.start, range.end);
  let carry = Buffer.alloc(0);
  const pieces = 'buffer' in content ? [content.buffer] : (content.stream as AsyncIterable<Buffer>);
  for await (const piece of pieces) {
    const haystack = asciiLower(carry.length ? Buffer.concat([carry, piece]) : piece);
    if (haystack.includes(wanted)) {
      if ('stream' in content) content.stream.destroy();
      return true;
    }
    carry = Buffer.from(haystack.subarray(Math.max(0, haystack.length - wanted.length + 1)));
  }
  return false;
}

const LOWER = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b));

function asciiLower(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = LOWER[bytes[i] as number] as number;
  return out;
}
