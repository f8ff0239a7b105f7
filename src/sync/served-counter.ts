/**
 * What clients fetched, counted by where it came from: whole bodies from the cache or from
 * upstream at that moment, and MIME part sections (BODY[2], BODY[1.MIME]...) cut from a cached
 * body or fetched upstream.
 */
export class ServedCounter {
  readonly cache = { bodies: 0, bytes: 0 };
  readonly upstream = { bodies: 0, bytes: 0 };
  readonly parts = { cache: 0, upstream: 0 };

  note(from: 'cache' | 'upstream', bytes: number): void {
    this[from].bodies++;
    this[from].bytes += bytes;
  }

  noteParts(from: 'cache' | 'upstream', count: number): void {
    this.parts[from] += count;
  }
}
