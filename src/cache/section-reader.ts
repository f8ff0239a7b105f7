import { Readable } from 'node:stream';
import { BODY_CHUNK_SIZE, CHUNKS_PER_READ, SYNC_READ_MAX } from '../model/limits.js';
import type { BodyStore } from './body-store.js';
import type { SectionRecord } from './records.js';

/** Bytes of a cached section: a Buffer when they fit in one chunk, else a stream of chunks. */
export type SectionContent = { length: number; buffer: Buffer } | { length: number; stream: Readable };


/**
 * Opens the byte range [start, end) of a cached section. A stream reads from a LevelDB snapshot
 * taken here, before the caller writes the literal's length: a concurrent expunge or cache clear
 * cannot cut the body short.
 */
export async function openSection(bodies: BodyStore, record: SectionRecord, start: number, end: number): Promise<SectionContent> {
  const now = openSectionNow(bodies, record, start, end);
  if (now) return { length: now.length, buffer: now };
  start = Math.min(start, record.length);
  end = Math.max(start, Math.min(end, record.length));
  const first = Math.floor(start / BODY_CHUNK_SIZE);
  const last = Math.floor((end - 1) / BODY_CHUNK_SIZE);
  const seqs = chunkSeqs(record, first, last);
  if (seqs.length === 1) {
    const [chunk] = await bodies.getChunks(seqs);
    if (!chunk) throw new Error(`chunk ${seqs[0]} is missing`);
    const base = first * BODY_CHUNK_SIZE;
    return { length: end - start, buffer: chunk.subarray(start - base, end - base) };
  }
  return { length: end - start, stream: new ChunkStream(bodies, seqs, start - first * BODY_CHUNK_SIZE, end - start) };
}

/**
 * The range [start, end) when it can be had without waiting: kept in the record, or in the one
 * chunk of a section of at most SYNC_READ_MAX, read on this thread. Undefined otherwise.
 */
export function openSectionNow(bodies: BodyStore, record: SectionRecord, start: number, end: number): Buffer | undefined {
  start = Math.min(start, record.length);
  end = Math.max(start, Math.min(end, record.length));
  if (record.inline) return record.inline.subarray(start, end);
  if (end === start) return Buffer.alloc(0);
  if (record.length > SYNC_READ_MAX) return undefined;
  const first = Math.floor(start / BODY_CHUNK_SIZE);
  const seqs = chunkSeqs(record, first, Math.floor((end - 1) / BODY_CHUNK_SIZE));
  if (seqs.length !== 1) return undefined;
  const chunk = bodies.getChunkSync(seqs[0] as number);
  if (!chunk) throw new Error(`chunk ${seqs[0]} is missing`);
  const base = first * BODY_CHUNK_SIZE;
  return chunk.subarray(start - base, end - base);
}

/**
 * A whole section's bytes one chunk at a time, for a pass that keeps none of them (the part
 * index's scan): a chunk is read only once the one before it was used. Streaming with
 * openSection reads ahead (CHUNKS_PER_READ, and the stream's buffer): for a 50 MB body that
 * was 1-2 MB more at the peak. Forcing young-generation collections as it goes made the peak
 * higher, not lower (measured): V8's own pacing of read bytes (gc-pacer.ts) stays.
 */
export async function* scanSection(bodies: BodyStore, record: SectionRecord): AsyncGenerator<Buffer> {
  if (record.inline) {
    yield record.inline;
    return;
  }
  if (record.length === 0) return;
  const seqs = chunkSeqs(record, 0, Math.floor((record.length - 1) / BODY_CHUNK_SIZE));
  const snapshot = bodies.snapshot();
  try {
    for (const seq of seqs) {
      const [chunk] = await bodies.getChunks([seq], snapshot);
      if (!chunk) throw new Error(`chunk ${seq} is missing`);
      yield chunk;
    }
  } finally {
    await snapshot.close();
  }
}

/** Sequence numbers of a section's chunks first..last (indices within the section). */
function chunkSeqs(record: SectionRecord, first: number, last: number): number[] {
  const seqs: number[] = [];
  let index = 0;
  for (const range of record.chunks) {
    for (let i = 0; i < range.count; i++, index++) {
      if (index >= first && index <= last) seqs.push(range.start + i);
    }
  }
  if (seqs.length !== last - first + 1) throw new Error('section record does not cover its length');
  return seqs;
}

class ChunkStream extends Readable {
  private readonly snapshot;
  private next = 0;
  private reading = false;

  constructor(
    private readonly bodies: BodyStore,
    private readonly seqs: number[],
    /** Bytes to skip in the first chunk. */
    private skip: number,
    /** Bytes still to send. */
    private left: number,
  ) {
    super();
    this.snapshot = bodies.snapshot();
  }

  override _read(): void {
    // _read may be called again before the previous LevelDB read resolved: one read at a time,
    // or chunks would be skipped
    if (this.reading || this.left === 0) return;
    this.reading = true;
    const batch = this.seqs.slice(this.next, this.next + CHUNKS_PER_READ);
    this.bodies.getChunks(batch, this.snapshot).then(
      (chunks) => {
        // still `reading` while pushing: push() may call _read synchronously
        for (const [i, chunk] of chunks.entries()) {
          if (!chunk) return this.destroy(new Error(`chunk ${batch[i]} is missing`));
          const piece = chunk.subarray(this.skip, this.skip + this.left);
          this.skip = 0;
          this.left -= piece.length;
          this.next++;
          this.push(piece);
        }
        this.reading = false;
        if (this.left === 0) this.push(null);
      },
      (err: unknown) => {
        this.reading = false;
        this.destroy(err as Error);
      },
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.snapshot.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
