import type { FolderRecord } from '../cache/cache-store.js';
import { clientModseq } from '../cache/records.js';
import type { FolderPath, FolderStatus, MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, mergeSorted, parseUidRanges, toSequenceSet, uidsInRanges, type UidRange } from '../model/uid-set.js';
import type { UpstreamFetch } from '../upstream/fetch-parse.js';
import { atom, type Token } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { findExpunged } from './expunge-finder.js';
import { aroundSequences, scanFlags } from './flag-scan.js';
import { ModseqAssigner } from './modseq-assigner.js';
import { SyncFindings } from './sync-findings.js';
import type { SyncScope } from './sync-scope.js';
import type { FolderChanges } from './update-journal.js';

const META_ITEMS = ['UID', 'FLAGS', 'RFC822.SIZE', 'INTERNALDATE'];
const GMAIL_EXTENSION = 'X-GM-EXT-1';

/** A folder generation as a sync starts from. */
export interface SyncInput {
  account: AccountContext;
  path: FolderPath;
  record: FolderRecord;
  uids: readonly Uid[];
}

/** What a sync found: the folder's new record and UIDs, and what changed (for the sessions). */
export interface SyncResult {
  record: FolderRecord;
  uids: Uid[];
  changes: FolderChanges;
  /** The lowest modseq the sync gave its changes: taken again if the folder's counter reached it meanwhile (folder.ts). */
  modseqBase: number;
  /** Flag updates upstream sent unasked during the sync (changes made meanwhile, which a later CHANGEDSINCE finds). */
  unsolicited: number;
}

/**
 * Brings a folder generation's cached metadata up to date with upstream, on a connection that
 * has the folder selected and the status it just reported, and says what it found; the folder
 * applies it (folder.ts). New and changed metadata is written as it arrives, in batches.
 * - With CONDSTORE: one `UID FETCH 1:* (...) (CHANGEDSINCE m [VANISHED])`.
 * - Without: new mail is `UID FETCH <uidnext>:*`; a full sync compares flags range by range,
 *   newest first, which also shows what went (flag-scan.ts); a quick one counts what went and
 *   finds it by bisection (expunge-finder.ts), and compares the flags around the sequence numbers
 *   its scope names (sync-scope.ts).
 * Either way the result must add up to the message count upstream reports now; where it does not
 * (the folder changed meanwhile), upstream is asked which UIDs exist.
 * `quiet`: a new generation's first fill, which no session is told of: its new messages are not
 * listed one by one (a 1,000,000-message folder would otherwise hold an object per message).
 * `unchangedUpstream`: the connection's NOOP brought no news since a sync on it that left the
 * cache as upstream had it (folder.ts): nothing to ask.
 */
export async function syncFolder(
  input: SyncInput,
  conn: UpstreamConnection,
  status: FolderStatus,
  options: { quiet?: boolean; scope?: SyncScope; unchangedUpstream?: boolean } = {},
): Promise<SyncResult> {
  const { store } = input.account;
  let record = input.record;
  const fid = record.fid;
  if (status.keywords && status.keywords.join(' ') !== (record.keywords ?? []).join(' ')) record = { ...record, keywords: status.keywords };
  const known = input.uids;
  const condstore = status.highestModseq !== '0';
  const unchanged = record.highestModseq === status.highestModseq && record.uidNext === status.uidNext && known.length === status.messages;
  if (condstore && ((!status.stale && unchanged) || (options.unchangedUpstream && known.length === status.messages))) {
    return { record, uids: known as Uid[], changes: { added: [], expunged: [], flagged: [] }, modseqBase: clientModseq(record) + 1, unsolicited: 0 };
  }

  // what changed gets the proxy's own modseqs, upstream's where they are higher
  const modseqs = new ModseqAssigner(clientModseq(record));
  const findings = new SyncFindings(store, fid, known, modseqs, record, !!options.quiet);
  // Gmail: the message's id under every label, so that its body is stored (and fetched) once
  const gmail = conn.hasCapability(GMAIL_EXTENSION) ? ['X-GM-MSGID'] : [];
  const items: Token[] = [...META_ITEMS, ...(condstore ? ['MODSEQ'] : []), ...gmail].map(atom);
  let unsolicited = 0;
  const onFetch = async (fetched: UpstreamFetch) => {
    // an unsolicited flag update has no size or date: the fetch itself reports the current flags
    if (fetched.size === undefined || fetched.internalDate === undefined || fetched.flags === undefined) {
      unsolicited++;
      return;
    }
    const meta: MessageMeta = { uid: fetched.uid, flags: fetched.flags, modseq: fetched.modseq ?? '0', size: fetched.size, internalDate: fetched.internalDate };
    if (fetched.gmMsgId) meta.gmMsgId = fetched.gmMsgId;
    await findings.fetchedWhole(meta);
  };
  /** Whole metadata of these messages (`n:*` names the last message when none is above n: only UIDs from `from` count). */
  const fetchWhole = (set: string, from = 0) => conn.uidFetch(set, items, (fetched) => (fetched.uid >= from ? onFetch(fetched) : undefined));
  /** These cached messages' flags compared with upstream's (flag-scan.ts): what went; messages the cache lacks are fetched whole. */
  const scan = async (cached: readonly Uid[], bounds: UidRange) => {
    const found = await scanFlags(conn, store, fid, cached, bounds, findings);
    if (found.uncached.length) await fetchWhole(toSequenceSet(found.uncached));
    return found.expunged;
  };
  const scanAll = () => scan(known, [1, record.uidNext - 1]);

  let expunged: Uid[];
  if (condstore && record.highestModseq !== '0' && known.length > 0) {
    const vanished: UidRange[] = [];
    await conn.uidFetch('1:*', items, onFetch, {
      modifiers: [atom('CHANGEDSINCE'), atom(record.highestModseq), ...(conn.qresyncEnabled ? [atom('VANISHED')] : [])],
      onVanished: (set: string) => vanished.push(...parseUidRanges(set)),
    });
    expunged = uidsInRanges(known, vanished);
  } else {
    // new mail: what is above the cache's UIDNEXT
    const newMail = !status.stale && status.uidNext <= record.uidNext ? undefined : `${record.uidNext}:*`;
    const last = known[known.length - 1];
    // a cache without upstream's modseqs where upstream has CONDSTORE now: flags are compared once, whatever the scope
    const scope = options.scope ?? 'full';
    if (scope !== 'full' && !condstore && last !== undefined) {
      // the last cached message's sequence number (or the first new one's) says how many of the cached ones are left
      let lastSeq: number | undefined;
      let belowNew: number | undefined;
      await conn.uidFetch([last, ...(newMail ? [newMail] : [])].join(','), items, async (fetched) => {
        if (fetched.uid === last) lastSeq = fetched.seq;
        if (fetched.uid < record.uidNext) return;
        belowNew ??= fetched.seq - 1;
        await onFetch(fetched);
      });
      const left = lastSeq ?? belowNew ?? conn.messageCount ?? status.messages;
      const found = await findExpunged(conn, known, known.length - left);
      expunged = found ?? (await scanAll());
      if (found && scope !== 'quick') {
        // numbered as upstream numbers them now, with what went taken out
        const left = removeSorted(known, found);
        for (const [from, to] of aroundSequences(left.length, scope.flagsAt)) {
          const around = left.slice(from, to);
          expunged.push(...(await scan(around, [around[0] as Uid, around[around.length - 1] as Uid])));
        }
      }
    } else {
      if (newMail) await fetchWhole(newMail, record.uidNext);
      expunged = await scanAll();
    }
  }
  await findings.flush();

  let uids = removeSorted(mergeSorted(known, findings.addedUids.slice().sort((a, b) => a - b)), expunged);
  if (uids.length !== (conn.messageCount ?? status.messages)) {
    // the folder changed while we looked: ask upstream which UIDs exist
    const existing = await conn.uidSearch([atom('ALL')]);
    existing.sort((a, b) => a - b);
    const existingSet = new Set(existing);
    const gone = uids.filter((uid) => !existingSet.has(uid));
    expunged.push(...gone);
    uids = removeSorted(uids, gone);
    const missing = existing.filter((uid) => indexOfUid(uids, uid) < 0);
    if (missing.length > 0) {
      const before = findings.addedUids.length;
      await fetchWhole(toSequenceSet(missing));
      await findings.flush();
      uids = mergeSorted(uids, findings.addedUids.slice(before).sort((a, b) => a - b));
    }
  }

  const { changes, newKeywords } = findings;
  changes.expunged = [...new Set(expunged)].sort((a, b) => a - b);
  if (changes.expunged.length) changes.expungedAt = modseqs.expunged();
  changes.added.sort((a, b) => a.uid - b.uid);
  const modseq = modseqs.counter(condstore ? Number(status.highestModseq) : 0);
  const maxModseq = findings.maxModseq;
  const next: FolderRecord = {
    ...record,
    ...(newKeywords.length ? { keywords: [...(record.keywords ?? []), ...newKeywords] } : {}),
    // UIDNEXT never goes down: a stale status's is at most the record's
    uidNext: Math.max(status.uidNext, status.stale ? record.uidNext : 0, findings.maxUid + 1),
    // a stale status's may be older than the cache's (another connection synced since): modseqs only grow
    highestModseq: status.stale && condstore ? String(maxOf(maxModseq, BigInt(status.highestModseq), BigInt(record.highestModseq))) : status.highestModseq,
    messages: uids.length,
    lastSync: Date.now(),
    modseq,
    // expunges are recorded from a generation's first fill on
    ...(options.quiet ? { vanishedFrom: modseq } : {}),
  };
  return { record: next, uids, changes, modseqBase: modseqs.base, unsolicited };
}

/** The highest of these (Math.max takes no bigint). */
function maxOf(first: bigint, ...rest: bigint[]): bigint {
  let max = first;
  for (const value of rest) if (value > max) max = value;
  return max;
}

function removeSorted(uids: readonly Uid[], remove: readonly Uid[]): Uid[] {
  if (remove.length === 0) return uids as Uid[];
  const drop = new Set(remove);
  return uids.filter((uid) => !drop.has(uid));
}
