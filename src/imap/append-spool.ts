import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cacheBytesRead, cacheBytesWritten } from '../cache/gc-pacer.js';
import { SPOOL_IO_BYTES } from '../model/limits.js';

/**
 * Where the messages of one APPEND wait, from the client's literal to upstream: one after the
 * other in a file of the spool folder (in the data directory: the same protection as the
 * cache), deleted once the command is over. Memory holds none of them, and no upstream
 * connection waits on a slow client.
 */
/** Spent Buffers are collected as they pass, not when 64 MB of them piled up (gc-pacer.ts). */
async function* paced(file: Readable): AsyncGenerator<Buffer> {
  for await (const chunk of file) {
    cacheBytesRead((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}

export class AppendSpool {
  private handle: Promise<FileHandle> | undefined;
  private length = 0;
  private readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, `append-${randomUUID()}`);
  }

  /**
   * Writes a literal's bytes as they come; returns where they start, and their SHA-256. The body
   * is not destroyed on failure: the caller drains it.
   */
  async write(body: Readable): Promise<{ start: number; digest: Buffer }> {
    this.handle ??= open(this.path, 'wx', 0o600);
    const handle = await this.handle;
    const start = this.length;
    const hash = createHash('sha256');
    // the pieces a socket gives (often a few KB) go to the file SPOOL_IO_BYTES at a time, in one call
    let pieces: Buffer[] = [];
    let held = 0;
    const flush = async () => {
      if (held === 0) return;
      const written = pieces;
      pieces = [];
      held = 0;
      await handle.writev(written);
    };
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      hash.update(chunk as Buffer);
      pieces.push(chunk as Buffer);
      held += (chunk as Buffer).length;
      this.length += (chunk as Buffer).length;
      cacheBytesWritten((chunk as Buffer).length);
      if (held >= SPOOL_IO_BYTES) await flush();
    }
    await flush();
    return { start, digest: hash.digest() };
  }

  /** A message written before, read back. */
  read(start: number, size: number): Readable {
    if (size === 0) return Readable.from([]);
    // read in Node's 64 KB pieces: 256 KB ones took a MULTIAPPEND of 20 x 10 MB from 17-19 MB over idle to 24-26 (bench `append`)
    const file = createReadStream(this.path, { start, end: start + size - 1 });
    return Readable.from(paced(file), { objectMode: false });
  }

  async discard(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return;
    await (await handle.catch(() => undefined))?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
