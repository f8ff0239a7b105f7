import { GC_PACE_BYTES, MINOR_GC_PACE_BYTES, STORED_GC_PACE_BYTES, UPSTREAM_GC_PACE_BYTES_PER_UNIT, UPSTREAM_GC_PACE_UNITS } from '../model/limits.js';

type GcFunction = (options?: { type: 'major' | 'minor'; execution: 'async' | 'sync' }) => void;
/** V8's collector, when the process was started with --expose-gc (the CLI is). */
const gc = (globalThis as { gc?: GcFunction }).gc;
let sinceMinor = 0;
let sinceMajor = 0;
let sinceMajorRead = 0;
let sinceStored = 0;
let upstreamUnits = 0;

/*
 * Bodies pass through the proxy as Buffers whose memory lies outside V8's heap and is freed only
 * when V8 collects the Buffer object. Two things go wrong when V8 is left to pace that alone:
 *
 * - V8 counts Buffer memory allocated since the last full collection against the old
 *   generation's allowance. The young generation (4 MB) fills with small objects far more slowly
 *   than bodies stream through, so spent chunks are not yet collected when that allowance runs
 *   out: a full collection, marking the whole heap, came every 10 MB served (40 per 2,000-message
 *   pull, nearly half the proxy's CPU time). A young-generation collection every MINOR_GC_PACE_BYTES
 *   frees spent chunks while they are young, for about a millisecond each.
 * - A Buffer that outlives young-generation collections (a body waiting in the write queue, a
 *   literal imapflow assembled) is collected by a full collection only, which V8 starts once
 *   64 MB of such memory has piled up: that pile, not live data, made most of the peak RssAnon.
 *   A full collection (incremental, off the hot path) every GC_PACE_BYTES written while that
 *   much is held keeps it down.
 */

/** Bytes just read from the cache (bodies, header blocks, structures) or the APPEND spool, in fresh Buffers. */
export function cacheBytesRead(bytes: number): void {
  if (!gc) return;
  paceMinor(gc, bytes);
  sinceMajorRead += bytes;
  if (sinceMajorRead < GC_PACE_BYTES) return;
  sinceMajorRead = 0;
  gc({ type: 'major', execution: 'async' });
}

/** Response bytes just handed to a client's socket in a fresh Buffer (fetch/response-writer.ts). */
export function responseBytesSent(bytes: number): void {
  if (gc) paceMinor(gc, bytes);
}

/** Bytes just queued for the cache (every write: body chunks, records) or the APPEND spool. */
export function cacheBytesWritten(bytes: number): void {
  if (!gc) return;
  paceMinor(gc, bytes);
  sinceMajor += bytes;
  if (sinceMajor < GC_PACE_BYTES) return;
  sinceMajor = 0;
  if (process.memoryUsage().arrayBuffers >= GC_PACE_BYTES) gc({ type: 'major', execution: 'async' });
}

/** A whole body was just stored from bytes the proxy held (an appended message): all its Buffers are spent. */
export function bodyStored(bytes: number): void {
  if (!gc) return;
  sinceStored += bytes;
  if (sinceStored < STORED_GC_PACE_BYTES) return;
  sinceStored = 0;
  gc({ type: 'major', execution: 'async' });
}

/**
 * One FETCH response from upstream parsed (its tokens, then the proxy's record), with the message,
 * ENVELOPE and BODYSTRUCTURE bytes it brought. Metadata and header blocks in bulk (a first fill or
 * a flag scan of 100,000 messages, a header sync) are nearly all such garbage, promoted while it
 * waits on the cache, and V8 lets the old generation double after a full collection. A response
 * weighs 1, plus 1 per UPSTREAM_GC_PACE_BYTES_PER_UNIT of its first 4 KB (bodies beyond that are
 * paced as they are written); a full collection every UPSTREAM_GC_PACE_UNITS. By hand, 4 runs
 * each: 100,000 messages' metadata without CONDSTORE (fill and two scans) peaked 117-133 MB
 * RssAnon before, 103-105 after; the header sync of 10,000 corpus messages 87-120 MB before,
 * 86-100 after. Counting the structures' bytes too: the ENVELOPE and BODYSTRUCTURE sync of
 * 1,000,000 messages 139-155 MB before, 126-137 after.
 */
export function upstreamResponseParsed(bytes: number): void {
  if (!gc) return;
  upstreamUnits += 1 + Math.floor(Math.min(bytes, 4096) / UPSTREAM_GC_PACE_BYTES_PER_UNIT);
  if (upstreamUnits < UPSTREAM_GC_PACE_UNITS) return;
  upstreamUnits = 0;
  gc({ type: 'major', execution: 'async' });
}

function paceMinor(collect: GcFunction, bytes: number): void {
  sinceMinor += bytes;
  if (sinceMinor < MINOR_GC_PACE_BYTES) return;
  sinceMinor = 0;
  collect({ type: 'minor', execution: 'async' });
}
