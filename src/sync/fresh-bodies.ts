import type { SectionRecord } from '../cache/cache-store.js';
import type { Uid } from '../model/types.js';

/**
 * Bodies just fetched from upstream, kept in memory (within a fixed byte budget) until a client
 * takes them: a client reading right behind the read-ahead is served these bytes instead of
 * reading back what was just written to LevelDB. Oldest entries go first when over budget.
 * Each entry is taken once: clients download a message once.
 */
export class FreshBodies {
  private readonly entries = new Map<string, SectionRecord>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  put(fid: string, uid: Uid, record: SectionRecord): void {
    if (record.length > this.budget / 4) return;
    const key = `${fid}:${uid}`;
    this.drop(key);
    this.entries.set(key, ownBytes(record));
    this.bytes += record.length;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(oldest);
      this.bytes -= old.length;
    }
  }

  take(fid: string, uid: Uid): SectionRecord | undefined {
    const key = `${fid}:${uid}`;
    const record = this.entries.get(key);
    if (record) this.drop(key);
    return record;
  }

  private drop(key: string): void {
    const record = this.entries.get(key);
    if (!record) return;
    this.entries.delete(key);
    this.bytes -= record.length;
  }
}

/**
 * A body fetched upstream is a slice of the buffer its response arrived in (imapflow reads
 * responses into buffers of up to a few MB): kept as it is, a 35 KB body held a 1 MB buffer, and
 * the budget counted a third of what was held (29 MB under 10 stress clients). Kept: a copy of
 * its own bytes.
 */
function ownBytes(record: SectionRecord): SectionRecord {
  const inline = record.inline;
  if (!inline || inline.length === inline.buffer.byteLength) return record;
  // not from Node's shared pool either: a small copy there would hold a slab of others' bytes
  const own = Buffer.allocUnsafeSlow(inline.length);
  inline.copy(own);
  return { ...record, inline: own };
}
