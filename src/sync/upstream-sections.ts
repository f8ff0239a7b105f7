import type { CacheStore, HeaderRule, SectionRecord } from '../cache/cache-store.js';
import { headerLengthFor } from '../cache/section-writer.js';
import { UPSTREAM_PARTIAL_SIZE } from '../model/limits.js';
import type { Uid } from '../model/types.js';
import { toSequenceSet } from '../model/uid-set.js';
import type { AtomToken, Token } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';

/** The FETCH item for a section as upstream knows it: "" is BODY[], "HEADER", "1.2.TEXT", ... */
export function sectionItem(section: string, partial?: [number, number]): AtomToken {
  const item: AtomToken = { type: 'ATOM', value: 'BODY.PEEK', section: section ? sectionTokens(section) : [] };
  if (partial) item.partial = partial;
  return item;
}

function sectionTokens(section: string): Token[] {
  const fields = /^(.*?HEADER\.FIELDS(?:\.NOT)?) \((.*)\)$/.exec(section);
  if (!fields) return [{ type: 'ATOM', value: section }];
  const names = (fields[2] as string).split(' ').filter(Boolean).map((name): Token => ({ type: 'ATOM', value: name }));
  return [{ type: 'ATOM', value: fields[1] as string }, names];
}

/**
 * What became of one message's section: `record` is undefined when upstream did not return the
 * message (expunged meanwhile) or had nothing (NIL). A record fetched in one piece carries its
 * bytes inline, so a waiting client is served from memory before the cache write completes;
 * `written` resolves when the section is readable from the cache.
 */
export type SectionOutcome = (uid: Uid, record: SectionRecord | undefined, written: Promise<void>) => void;

const DONE = Promise.resolve();

/**
 * Fetches one section of many messages into the cache with memory bounded by the partial size:
 * the first UPSTREAM_PARTIAL_SIZE bytes of every message in one command, then the rest of any
 * message that was longer, piece by piece into a chunked writer.
 */
export async function fetchSectionsInto(
  conn: UpstreamConnection,
  store: CacheStore,
  fid: string,
  uids: readonly Uid[],
  section: string,
  storeAs: string,
  rule: HeaderRule,
  outcome: SectionOutcome,
): Promise<void> {
  const wanted = new Set(uids);
  const longer: { uid: Uid; first: Buffer }[] = [];
  await conn.uidFetch(toSequenceSet(uids), [sectionItem(section, [0, UPSTREAM_PARTIAL_SIZE])], async (fetched) => {
    if (!wanted.has(fetched.uid) || !fetched.sections.has(section)) return; // unsolicited
    wanted.delete(fetched.uid);
    const bytes = fetched.sections.get(section);
    if (!bytes) return outcome(fetched.uid, undefined, DONE);
    if (bytes.length === UPSTREAM_PARTIAL_SIZE) {
      longer.push({ uid: fetched.uid, first: bytes });
      return;
    }
    // backpressure: the next response is read only when the cache can take more
    await store.writeSpace();
    const { record, written } = store.storeSection(fid, fetched.uid, storeAs, bytes, headerLengthFor(rule, bytes));
    written.catch(() => undefined); // the caller decides what a failed write means
    outcome(fetched.uid, record, written);
  });
  for (const uid of wanted) outcome(uid, undefined, DONE);
  for (const { uid, first } of longer.splice(0)) {
    const record = await fetchRemainder(conn, store, fid, uid, section, storeAs, rule, first);
    outcome(uid, record, DONE);
  }
}

/** Continues a section longer than one partial: piece by piece, never more than one in memory. */
async function fetchRemainder(
  conn: UpstreamConnection,
  store: CacheStore,
  fid: string,
  uid: Uid,
  section: string,
  storeAs: string,
  rule: HeaderRule,
  first: Buffer,
): Promise<SectionRecord | undefined> {
  const writer = store.sectionWriter(fid, uid, storeAs, rule);
  try {
    await writer.write(first);
    for (let offset = first.length; ; offset += UPSTREAM_PARTIAL_SIZE) {
      let piece: Buffer | null | undefined;
      await conn.uidFetch(String(uid), [sectionItem(section, [offset, UPSTREAM_PARTIAL_SIZE])], (fetched) => {
        if (fetched.uid === uid && fetched.sections.has(section)) piece = fetched.sections.get(section);
      });
      if (piece === undefined) {
        await writer.abandon(); // expunged meanwhile
        return undefined;
      }
      if (piece) await writer.write(piece);
      if (!piece || piece.length < UPSTREAM_PARTIAL_SIZE) break;
    }
  } catch (err) {
    await writer.abandon().catch(() => undefined);
    throw err;
  }
  return writer.end();
}
