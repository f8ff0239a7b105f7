import { contentId, keys, parseContentId } from './keys.js';
import type { Ledger, LedgerView } from './ledger.js';
import { decodeContent, decodeSection, encodeContent, encodeSection, type ContentRecord, type ContentRef, type SectionRecord } from './records.js';
import type { BatchOp } from './write-queue.js';

/** The id of the content a section record refers to: a whole body stored by content. */
export function contentIdOf(record: SectionRecord): string | undefined {
  return record.content ? contentId(record.content.account, record.content.digest, record.length) : undefined;
}

function tryDecodeSection(value: Buffer): SectionRecord | undefined {
  try {
    return decodeSection(value);
  } catch {
    return undefined;
  }
}

/** A content record (loaded); an unreadable one counts as absent (cache verify reports it). */
function readContent(view: LedgerView, id: string): ContentRecord | undefined {
  const value = view.get(keys.content(id));
  try {
    return value && decodeContent(value);
  } catch {
    return undefined;
  }
}

/** The section record of a body stored as this content. */
function recordOf(content: ContentRecord, ref: ContentRef): SectionRecord {
  return { length: content.length, headerLength: content.headerLength, chunks: content.chunks, content: ref };
}

/** One reference fewer to a content (loaded): gone with its last one, its chunks dropped after the batch. */
function unref(view: LedgerView, id: string): void {
  const content = readContent(view, id);
  if (!content) return;
  if (content.refs <= 1) {
    view.del(keys.content(id));
    view.drops.push(...content.chunks);
  } else {
    view.put(keys.content(id), encodeContent({ ...content, refs: content.refs - 1 }));
  }
}

/**
 * Deletes the section records at these keys (loaded), each with what it held: a reference to a
 * content, or chunks of its own (a part section, a whole body from before bodies were stored by
 * content), dropped after the batch.
 */
async function release(view: LedgerView, sectionKeys: readonly string[]): Promise<void> {
  const released: SectionRecord[] = [];
  for (const key of sectionKeys) {
    const value = view.get(key);
    if (!value) continue;
    view.del(key);
    const record = tryDecodeSection(value);
    if (record) released.push(record);
  }
  const ids = released.map(contentIdOf);
  await view.load(ids.flatMap((id) => (id ? [keys.content(id)] : [])));
  released.forEach((record, i) => {
    const id = ids[i];
    if (id) unref(view, id);
    else view.drops.push(...record.chunks);
  });
}

/**
 * Whole message bodies stored once, whatever the number of folders (Gmail's labels) they are in:
 * a content record per distinct body (its SHA-256 and length) holds its chunks and counts the
 * section records that refer to it; the chunks are dropped when the last reference goes. Every
 * change of a section record that may hold a reference goes through here (the ledger), in one
 * batch with the count it changes.
 */
export class BodyContents {
  constructor(private readonly ledger: Ledger) {}

  /**
   * A whole body whose chunks are written (`candidate`, naming its content) becomes visible at
   * `key`: as the content already stored, if it is (its own chunks are then dropped), else as a
   * new content. `also(record)`: writes that go with the record (its header block). Resolves
   * with the record written.
   */
  storeBody(key: string, candidate: SectionRecord, also: (record: SectionRecord) => BatchOp[]): Promise<SectionRecord> {
    const ref = candidate.content as ContentRef;
    const id = contentIdOf(candidate) as string;
    return this.ledger.run(async (view) => {
      const shared = await this.replace(view, key, id);
      if (shared) {
        view.dropCopy(candidate.chunks);
        return shared;
      }
      const content = readContent(view, id);
      const record = content ? recordOf(content, ref) : { length: candidate.length, headerLength: candidate.headerLength, chunks: candidate.chunks, content: ref };
      if (content) view.dropCopy(candidate.chunks);
      view.put(keys.content(id), encodeContent({ refs: (content?.refs ?? 0) + 1, length: record.length, headerLength: record.headerLength, chunks: record.chunks }));
      view.put(key, encodeSection(record));
      view.also(also(record));
      return record;
    }, [key, keys.content(id)]);
  }

  /** Whether a content is stored (as far as the steps planned so far go): a hint, checked again by linkBody. */
  async isStored(id: string): Promise<boolean> {
    return (await this.ledger.peek(keys.content(id))) !== undefined;
  }

  /** A reference to a content already stored, at `key` (a message known by its X-GM-MSGID); undefined when the content is gone. */
  linkBody(key: string, id: string, also: (record: SectionRecord) => BatchOp[]): Promise<SectionRecord | undefined> {
    return this.ledger.run(async (view) => {
      await view.load([keys.content(id)]);
      const content = readContent(view, id);
      if (!content) return undefined;
      const shared = await this.replace(view, key, id);
      if (shared) return shared;
      const { account, digest } = parseContentId(id);
      const record = recordOf(content, { account, digest });
      view.put(keys.content(id), encodeContent({ ...content, refs: content.refs + 1 }));
      view.put(key, encodeSection(record));
      view.also(also(record));
      return record;
    }, [keys.content(id), key]);
  }

  /** Deletes section records (of any section), with `also` in the same batch; what only they referred to is dropped. */
  release(sectionKeys: readonly string[], also: readonly BatchOp[] = []): Promise<void> {
    return this.ledger.run(async (view) => {
      await view.load(sectionKeys);
      await release(view, sectionKeys);
      view.also(also);
    }, sectionKeys);
  }

  /** Section records to other keys (messages moved to another folder), references and all. */
  move(moves: readonly { from: string; to: string }[], also: readonly BatchOp[] = []): Promise<void> {
    return this.ledger.run(async (view) => {
      await view.load(moves.flatMap(({ from, to }) => [from, to]));
      await release(view, moves.filter(({ from, to }) => view.get(from) && view.get(to)).map(({ to }) => to));
      for (const { from, to } of moves) {
        const value = view.get(from);
        if (!value) continue;
        view.del(from);
        view.put(to, value);
      }
      view.also(also);
    }, moves.flatMap(({ from, to }) => [from, to]));
  }

  /**
   * A whole body written before bodies were stored by content (`expected`, its record as read,
   * whose bytes hash to the digest of `ref`) becomes a reference: to the content already stored (its own
   * chunks are dropped), or to a new content made of its chunks. Resolves with whether the
   * content was stored already; undefined if the record changed meanwhile (nothing is done).
   */
  adopt(key: string, expected: Buffer, ref: ContentRef): Promise<boolean | undefined> {
    return this.ledger.run(async (view) => {
      await view.load([key]);
      if (!view.get(key)?.equals(expected)) return undefined;
      const old = decodeSection(expected);
      const id = contentId(ref.account, ref.digest, old.length);
      await view.load([keys.content(id)]);
      const content = readContent(view, id);
      const record = content ? recordOf(content, ref) : { ...old, content: ref };
      if (content) view.drops.push(...old.chunks);
      view.put(keys.content(id), encodeContent({ refs: (content?.refs ?? 0) + 1, length: record.length, headerLength: record.headerLength, chunks: record.chunks }));
      view.put(key, encodeSection(record));
      return content !== undefined;
    }, [key]);
  }

  /** Corrects a content's count by `delta` (cache verify counted its references); at 0 or below it goes, and so does an unreadable record. */
  recount(id: string, delta: number): Promise<void> {
    return this.ledger.run(async (view) => {
      await view.load([keys.content(id)]);
      const content = readContent(view, id);
      if (!content) {
        if (view.get(keys.content(id))) view.del(keys.content(id));
        return;
      }
      const refs = content.refs + delta;
      if (refs > 0) {
        view.put(keys.content(id), encodeContent({ ...content, refs }));
      } else {
        view.del(keys.content(id));
        view.drops.push(...content.chunks);
      }
    });
  }

  /**
   * Loads the section record at `key` and, if it is one that `id` should replace, releases it.
   * Returns the record when it already refers to `id` (nothing to change).
   */
  private async replace(view: LedgerView, key: string, id: string): Promise<SectionRecord | undefined> {
    await view.load([key, keys.content(id)]);
    const value = view.get(key);
    const existing = value && tryDecodeSection(value);
    if (existing && contentIdOf(existing) === id) return existing;
    await release(view, [key]);
    return undefined;
  }
}
