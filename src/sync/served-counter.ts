/** Bodies clients fetched, counted by where they came from: the cache, or upstream at that moment. */
export class ServedCounter {
  readonly cache = { bodies: 0, bytes: 0 };
  readonly upstream = { bodies: 0, bytes: 0 };

  note(from: 'cache' | 'upstream', bytes: number): void {
    this[from].bodies++;
    this[from].bytes += bytes;
  }
}
