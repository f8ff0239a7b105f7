import type { HeaderRule, SectionRecord } from '../cache/cache-store.js';
import { HEADER_BLOCK } from '../cache/keys.js';
import type { MessageMeta, MessageStructure, StructureItem, Uid } from '../model/types.js';
import { toSequenceSet, uidsNotIn } from '../model/uid-set.js';
import type { Priority } from '../upstream/connection-pool.js';
import { atom } from '../upstream/imap-tokens.js';
import type { GenerationContext } from './account-context.js';
import { fetchSectionsInto } from './upstream-sections.js';

const STRUCTURE_ATOMS: Record<StructureItem, string> = { envelope: 'ENVELOPE', bodystructure: 'BODYSTRUCTURE', body: 'BODY' };

/** A part's HEADER is all header; a part's content or MIME header has no header split of its own. */
function headerRuleOf(section: string): HeaderRule {
  return /(^|\.)HEADER$/.test(section) ? 'all' : 'none';
}

/**
 * Fills in what a FETCH needs besides whole bodies: ENVELOPE / BODYSTRUCTURE / BODY as upstream
 * serialised them, header blocks, and MIME part sections (which need upstream's MIME parser:
 * the proxy has none). One upstream command per batch of messages.
 */
export class ItemFetcher {
  /** Structure fetches under way, per message: what they ask for, and when they are stored (rejects as the fetch did). */
  private readonly fetchingStructures = new Map<Uid, { items: ReadonlySet<StructureItem>; over: Promise<void> }>();

  constructor(private readonly generation: GenerationContext) {}

  /** UIDs of this folder whose ENVELOPE and BODYSTRUCTURE are not cached yet, ascending: keys only, no record read. */
  async uncachedStructures(): Promise<readonly Uid[]> {
    return uidsNotIn(this.generation.uids, this.generation.account.store.structureUids(this.generation.fid));
  }

  /** UIDs of this folder whose header block (BODY[HEADER]) is not cached yet, ascending: keys only, no record read. */
  async uncachedHeaders(): Promise<readonly Uid[]> {
    return uidsNotIn(this.generation.uids, this.generation.account.store.sectionUids(this.generation.fid, HEADER_BLOCK));
  }

  async structures(metas: readonly MessageMeta[], items: readonly StructureItem[], priority: Priority): Promise<Map<Uid, MessageStructure>> {
    const { store } = this.generation.account;
    const fid = this.generation.fid;
    const uids = metas.map((m) => m.uid);
    const cached = await store.getStructures(fid, uids);
    const result = new Map<Uid, MessageStructure>();
    const missing: Uid[] = [];
    uids.forEach((uid, i) => {
      const structure = cached[i];
      if (structure && items.every((item) => structure[item])) result.set(uid, structure);
      else missing.push(uid);
    });
    if (missing.length === 0) return result;
    // a message whose structure another session is fetching already (one just appended, which
    // every session hears of at once): that fetch is waited for, then the cache read
    const joined: Uid[] = [];
    const toFetch: Uid[] = [];
    for (const uid of missing) {
      const running = this.fetchingStructures.get(uid);
      if (running && items.every((item) => running.items.has(item))) joined.push(uid);
      else toFetch.push(uid);
    }
    if (toFetch.length) await this.fetchStructures(toFetch, items, new Map(uids.map((uid, i) => [uid, cached[i]])), result, priority);
    if (joined.length) {
      await Promise.all(joined.map((uid) => this.fetchingStructures.get(uid)?.over));
      const stored = await store.getStructures(fid, joined);
      joined.forEach((uid, i) => {
        const structure = stored[i];
        if (structure && items.every((item) => structure[item])) result.set(uid, structure);
      });
    }
    return result;
  }

  /** One upstream command for the structures of `missing`, stored, and added to `result`. */
  private async fetchStructures(
    missing: readonly Uid[],
    items: readonly StructureItem[],
    previous: ReadonlyMap<Uid, MessageStructure | undefined>,
    result: Map<Uid, MessageStructure>,
    priority: Priority,
  ): Promise<void> {
    const { store, pool } = this.generation.account;
    const fid = this.generation.fid;
    // ENVELOPE and BODYSTRUCTURE come together: a client that wants one usually wants the other next
    const wanted = new Set<StructureItem>(['envelope', 'bodystructure', ...items]);
    const fetch = pool.run({ folder: this.generation.path, priority }, async (conn) => {
      const fetchedStructures: { uid: Uid; structure: MessageStructure }[] = [];
      await conn.uidFetch(toSequenceSet(missing), [...wanted].map((item) => atom(STRUCTURE_ATOMS[item])), (fetched) => {
        const structure: MessageStructure = { ...previous.get(fetched.uid) };
        if (fetched.envelope) structure.envelope = fetched.envelope;
        if (fetched.bodystructure) structure.bodystructure = fetched.bodystructure;
        if (fetched.body) structure.body = fetched.body;
        if (!items.every((item) => structure[item])) return; // unsolicited
        result.set(fetched.uid, structure);
        fetchedStructures.push({ uid: fetched.uid, structure });
      });
      await store.putStructures(fid, fetchedStructures);
    });
    const entry = { items: wanted, over: fetch.then(() => undefined) };
    entry.over.catch(() => undefined); // its own caller is told; a session that joined it is too
    for (const uid of missing) this.fetchingStructures.set(uid, entry);
    try {
      await fetch;
    } finally {
      for (const uid of missing) if (this.fetchingStructures.get(uid) === entry) this.fetchingStructures.delete(uid);
    }
  }

  /**
   * Header blocks or MIME part sections ("HEADER", "1", "2.MIME", "1.2.TEXT", ...). A message is
   * left out when upstream no longer has it, or answers NIL (Dovecot does for a message another
   * session expunged; a part a message does not have is an empty string).
   */
  async sections(metas: readonly MessageMeta[], section: string, priority: Priority): Promise<Map<Uid, SectionRecord>> {
    const { store, pool } = this.generation.account;
    const fid = this.generation.fid;
    const wanted = metas.map((m) => ({ uid: m.uid, section }));
    const cached = await store.getSections(fid, wanted);
    const result = new Map<Uid, SectionRecord>();
    const missing: Uid[] = [];
    metas.forEach((meta, i) => {
      const record = cached[i];
      if (record) result.set(meta.uid, record);
      else missing.push(meta.uid);
    });
    if (missing.length === 0) return result;
    await pool.run({ folder: this.generation.path, priority }, (conn) =>
      fetchSectionsInto(conn, store, { acct: this.generation.account.id, fid }, missing, section, section, headerRuleOf(section), (uid, record) => {
        if (record) result.set(uid, record);
      }),
    );
    return result;
  }
}
