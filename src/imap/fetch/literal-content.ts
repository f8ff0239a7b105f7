import { Readable } from 'node:stream';
import type { CacheStore, SectionContent, SectionRecord } from '../../cache/cache-store.js';
import type { MessageSections } from '../../sync/fetch-data.js';
import type { LiteralSource } from './fetch-plan.js';
import { HeaderFieldFilter } from './header-fields.js';
import type { LiteralBytes } from './response-writer.js';
import { FIELDS_IN_MEMORY } from '../../model/limits.js';

interface ByteRange {
  record: SectionRecord;
  start: number;
  end: number;
}

/** literalNow's answer when the bytes need a read that waits. */
export const NEEDS_READ = Symbol('needs a read');

/** Opens the bytes of one literal item; undefined when the message has no such data. */
export async function openLiteral(
  store: CacheStore,
  message: MessageSections,
  source: LiteralSource,
  partial?: { start: number; length: number },
): Promise<LiteralBytes | undefined> {
  const now = literalNow(store, message, source, partial);
  if (now !== NEEDS_READ) return now;
  const pick = fieldPick(message, source);
  if (pick) return pick.block && filterFields(store, pick.block, pick.names, pick.exclude, partial);
  const range = literalRange(message, source, partial);
  return range && asLiteralBytes(await store.openSection(range.record, range.start, range.end));
}

/**
 * The bytes of one literal item when they can be had without waiting (kept in its record, or
 * one small chunk: section-reader's openSectionNow), as most header fields and small bodies
 * are: a FETCH of 100,000 messages then makes no promise per message. NEEDS_READ otherwise;
 * undefined when the message has no such data.
 */
export function literalNow(
  store: CacheStore,
  message: MessageSections,
  source: LiteralSource,
  partial?: { start: number; length: number },
): Buffer | undefined | typeof NEEDS_READ {
  const pick = fieldPick(message, source);
  if (pick) return pick.block && fieldsNow(store, pick.block, pick.names, pick.exclude, partial);
  const range = literalRange(message, source, partial);
  return range && (store.openSectionNow(range.record, range.start, range.end) ?? NEEDS_READ);
}

/** Header fields the proxy picks itself: from which header block (undefined: the message has none), which names. */
interface FieldPick {
  block: ByteRange | undefined;
  names: ReadonlySet<string>;
  exclude: boolean;
}

/**
 * BODY[HEADER.FIELDS (...)] is picked from the message's header block, and a part's from a
 * header block cut from the cached body; upstream's answer for a part is picked already, and any
 * other item is no pick (undefined).
 */
function fieldPick(message: MessageSections, source: LiteralSource): FieldPick | undefined {
  if (source.kind === 'fields') return { block: headerRange(message), names: source.names, exclude: source.exclude };
  if (source.kind !== 'part' || !source.fields) return undefined;
  const part = message.parts.get(source.request.section);
  return part?.headerBlock ? { block: part, ...source.fields } : undefined;
}

/** The bytes of an item that is not a pick of header fields, narrowed to a partial fetch's window. */
function literalRange(message: MessageSections, source: LiteralSource, partial?: { start: number; length: number }): ByteRange | undefined {
  const range = source.kind === 'fields' ? undefined : rangeOf(message, source);
  if (!range || !partial) return range;
  const start = Math.min(range.end, range.start + partial.start);
  return { record: range.record, start, end: Math.min(range.end, start + partial.length) };
}

/** The selected header fields of a block that can be read without waiting. */
function fieldsNow(store: CacheStore, block: ByteRange, names: ReadonlySet<string>, exclude: boolean, partial?: { start: number; length: number }): Buffer | typeof NEEDS_READ {
  if (block.end - block.start > FIELDS_IN_MEMORY) return NEEDS_READ;
  const bytes = store.openSectionNow(block.record, block.start, block.end);
  return bytes ? cutPartial(HeaderFieldFilter.select(bytes, names, exclude), partial) : NEEDS_READ;
}

function cutPartial(all: Buffer, partial?: { start: number; length: number }): Buffer {
  return partial ? all.subarray(Math.min(partial.start, all.length), Math.min(all.length, partial.start + partial.length)) : all;
}

function rangeOf(message: MessageSections, source: Exclude<LiteralSource, { kind: 'fields' }>): ByteRange | undefined {
  const body = message.body;
  switch (source.kind) {
    case 'full':
      return body && { record: body, start: 0, end: body.length };
    case 'text':
      return body && { record: body, start: body.headerLength, end: body.length };
    case 'header':
      return headerRange(message);
    case 'part':
      return message.parts.get(source.request.section);
    case 'binary':
      return message.parts.get(source.section);
  }
}

/**
 * Whether a BINARY section is sent as a literal8: when its content is not in the 8bit domain (a
 * NUL, a lone CR or LF), as RFC 3516 4.3 asks. (Dovecot also sends a literal8 for any content it
 * decoded; a client takes either.) A section not kept in its record is read once more for this.
 */
export async function wantsLiteral8(store: CacheStore, message: MessageSections, section: string): Promise<boolean> {
  const record = message.parts.get(section)?.record;
  if (!record) return false;
  const check = new TextCheck();
  if (record.inline) return !check.push(record.inline) || check.endsWithCr;
  for await (const chunk of store.scanSection(record)) if (!check.push(chunk)) return true;
  return check.endsWithCr;
}

/** Follows bytes across chunks: still 8bit-domain text (no NUL, CR and LF only as CRLF)? */
class TextCheck {
  endsWithCr = false;

  push(chunk: Buffer): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.endsWithCr !== (byte === 0x0a)) return false;
      if (byte === 0) return false;
      this.endsWithCr = byte === 0x0d;
    }
    return true;
  }
}

function headerRange(message: MessageSections): ByteRange | undefined {
  if (message.header) return { record: message.header, start: 0, end: message.header.length };
  if (message.body) return { record: message.body, start: 0, end: message.body.headerLength };
  return undefined;
}

function asLiteralBytes(content: SectionContent): LiteralBytes {
  return 'buffer' in content ? content.buffer : content;
}

async function filterFields(
  store: CacheStore,
  block: ByteRange,
  names: ReadonlySet<string>,
  exclude: boolean,
  partial?: { start: number; length: number },
): Promise<LiteralBytes> {
  const start = partial?.start ?? 0;
  const limit = partial?.length ?? Number.MAX_SAFE_INTEGER;
  const filtered = async function* (): AsyncGenerator<Buffer> {
    const filter = new HeaderFieldFilter(names, exclude);
    const content = await store.openSection(block.record, block.start, block.end);
    if ('buffer' in content) yield* filter.push(content.buffer);
    else for await (const chunk of content.stream) yield* filter.push(chunk as Buffer);
    yield* filter.end();
  };
  if (block.end - block.start <= FIELDS_IN_MEMORY) {
    const pieces: Buffer[] = [];
    for await (const piece of filtered()) pieces.push(piece);
    return cutPartial(Buffer.concat(pieces), partial);
  }
  // a huge header block: one pass for the length, a second one to send it
  let total = 0;
  for await (const piece of filtered()) total += piece.length;
  const length = Math.max(0, Math.min(total - start, limit));
  return { length, stream: Readable.from(slice(filtered(), start, length)) };
}

async function* slice(source: AsyncIterable<Buffer>, start: number, length: number): AsyncGenerator<Buffer> {
  let skip = start;
  let left = length;
  for await (const piece of source) {
    if (left <= 0) return;
    if (skip >= piece.length) {
      skip -= piece.length;
      continue;
    }
    const part = piece.subarray(skip, skip + left);
    skip = 0;
    left -= part.length;
    yield part;
  }
}
