import { GC_PACE_BYTES } from '../model/limits.js';

type GcFunction = (options?: { type: 'major'; execution: 'async' | 'sync' }) => void;
/** V8's collector, when the process was started with --expose-gc (the CLI is). */
const gc = (globalThis as { gc?: GcFunction }).gc;
let passed = 0;

/**
 * Bodies pass through the proxy as Buffers whose memory lies outside V8's heap and is freed only
 * when V8 collects the Buffer object. A Buffer that outlives a young-generation collection (a body
 * waiting in the write queue, a literal imapflow assembled) is collected by a full collection
 * only, which V8 starts by itself once 64 MB of such memory has piled up: that pile, not live
 * data, made most of the peak RssAnon. Told of every body byte written to the cache, this starts a
 * full collection (incremental, off the hot path) every GC_PACE_BYTES while that much is held.
 */
export function bodyBytesPassed(bytes: number): void {
  if (!gc) return;
  passed += bytes;
  if (passed < GC_PACE_BYTES) return;
  passed = 0;
  if (process.memoryUsage().arrayBuffers >= GC_PACE_BYTES) gc({ type: 'major', execution: 'async' });
}
