import type { CacheStore, GenerationKey, HeaderRule, SectionRecord } from '../cache/cache-store.js';
import { headerLengthFor } from '../cache/section-writer.js';
import { UPSTREAM_PARTIAL_SIZE } from '../model/limits.js';
import type { Uid } from '../model/types.js';
import { toSequenceSet } from '../model/uid-set.js';
import { sectionFetchItem, type AtomToken, type Token } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';

/** The FETCH item for a section as upstream knows it: "" is BODY[], "HEADER", "1.2.TEXT", a binarySection is BINARY[part] ... */
function sectionItem(cached: string, partial?: [number, number]): AtomToken {
  const { name, section } = sectionFetchItem(cached);
  const item: AtomToken = { type: 'ATOM', value: name, section: section ? sectionTokens(section) : [] };
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
 * A server may answer a FETCH of a message another session expunged under the command with
 * empty data rather than NIL or nothing (Dovecot's imap_fetch_send_nil_reply: NIL or ""). Kept,
 * that would be an empty section served for good. Told apart from a real section by what cannot
 * be empty: a whole message (`wholeMessage`), or a piece that starts before the end of the
 * message's known size. (Header blocks end with their blank line by RFC 3501, but a server that
 * sent none would have its messages reported expunged: not relied on.)
 */
function expungedReply(piece: Buffer, offset: number, size: number, wholeMessage = false): boolean {
  return piece.length === 0 && (offset < size || wholeMessage);
}

/**
 * Fetches one section of many messages into the cache with memory bounded by the partial size:
 * the first UPSTREAM_PARTIAL_SIZE bytes of every message in one command, then the rest of any
 * message that was longer, piece by piece into a chunked writer.
 */
export async function fetchSectionsInto(
  conn: UpstreamConnection,
  store: CacheStore,
  at: GenerationKey,
  uids: readonly Uid[],
  section: string,
  storeAs: string,
  rule: HeaderRule,
  outcome: SectionOutcome,
  sizeOf: (uid: Uid) => number = () => 0,
): Promise<void> {
  const wanted = new Set(uids);
  const longer: { uid: Uid; first?: Buffer }[] = [];
  await conn.uidFetch(toSequenceSet(uids), [sectionItem(section, [0, UPSTREAM_PARTIAL_SIZE])], async (fetched) => {
    if (!wanted.has(fetched.uid) || !fetched.sections.has(section)) return; // unsolicited
    wanted.delete(fetched.uid);
    const bytes = fetched.sections.get(section);
    if (!bytes || expungedReply(bytes, 0, sizeOf(fetched.uid), section === '')) return outcome(fetched.uid, undefined, DONE);
    if (bytes.length === UPSTREAM_PARTIAL_SIZE) {
      longer.push({ uid: fetched.uid, first: bytes });
      return;
    }
    // backpressure: the next response is read only when the cache can take more
    await store.writeSpace();
    const { record, written } = store.storeSection(at, fetched.uid, storeAs, bytes, headerLengthFor(rule, bytes));
    written.catch(() => undefined); // the caller decides what a failed write means
    outcome(fetched.uid, record, written);
  });
  for (const uid of wanted) outcome(uid, undefined, DONE);
  while (longer.length > 0) {
    const entry = longer.shift() as { uid: Uid; first?: Buffer };
    // on this one connection, piece after piece: nothing is asked ahead (expected 0)
    const fetchAt = (offset: number) => {
      const first = offset === 0 ? entry.first : undefined;
      entry.first = undefined; // handed over once: not kept while the rest comes
      return first ? Promise.resolve(first) : fetchPiece(conn, entry.uid, section, offset);
    };
    outcome(entry.uid, await fetchLongSectionInto(fetchAt, store, at, entry.uid, storeAs, rule, sizeOf(entry.uid), false), DONE);
  }
}

/** One partial of a section: its bytes, null for NIL, undefined when upstream did not return the message. */
export async function fetchPiece(conn: UpstreamConnection, uid: Uid, section: string, offset: number): Promise<Buffer | null | undefined> {
  let piece: Buffer | null | undefined;
  await conn.uidFetch(String(uid), [sectionItem(section, [offset, UPSTREAM_PARTIAL_SIZE])], (fetched) => {
    if (fetched.uid === uid && fetched.sections.has(section)) piece = fetched.sections.get(section);
  });
  return piece;
}

/**
 * Fetches a section expected to be longer than one partial, two pieces at a time (one at a time
 * unless `askAhead`), and writes them in order. `fetchAt` runs each piece on a connection of
 * its own: across a link with latency the next piece is already coming while one arrives, where
 * one connection would leave the link idle for a round trip per piece (a 5 MB body over 25 ms:
 * 0.1 s of 0.5). At most two pieces are in memory. `expected` (RFC822.SIZE of a whole message,
 * else 0) decides how far ahead to ask and tells an expunged message's empty answer from the end:
 * the pieces continue until one comes back short, whatever the size said.
 */
export async function fetchLongSectionInto(
  fetchAt: (offset: number) => Promise<Buffer | null | undefined>,
  store: CacheStore,
  at: GenerationKey,
  uid: Uid,
  storeAs: string,
  rule: HeaderRule,
  expected: number,
  askAhead = true,
): Promise<SectionRecord | undefined> {
  const start = (offset: number) => {
    const piece = fetchAt(offset);
    piece.catch(() => undefined); // awaited below, or not needed once an earlier piece came back short
    return piece;
  };
  const writer = store.sectionWriter(at, uid, storeAs, rule);
  let current = start(0);
  try {
    for (let offset = 0; ; offset += UPSTREAM_PARTIAL_SIZE) {
      const nextOffset = offset + UPSTREAM_PARTIAL_SIZE;
      const next = askAhead && nextOffset < expected ? start(nextOffset) : undefined;
      const piece = await current;
      // not returned, NIL (Dovecot's answer for a message another session expunged), or empty
      // where the message has more: expunged meanwhile. Kept, an empty body would be served for good
      if (!piece || expungedReply(piece, offset, expected)) {
        await writer.abandon();
        return undefined;
      }
      if (piece.length > 0) await writer.write(piece);
      if (piece.length < UPSTREAM_PARTIAL_SIZE) return await writer.end();
      current = next ?? start(nextOffset);
    }
  } catch (err) {
    await writer.abandon().catch(() => undefined);
    throw err;
  }
}
