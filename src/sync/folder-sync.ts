import type { FolderRecord } from '../cache/cache-store.js';
import { clientModseq } from '../cache/records.js';
import { META_WRITE_BATCH } from '../model/limits.js';
import type { FolderPath, FolderStatus, MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, mergeSorted, parseUidRanges, toSequenceSet, uidsInRanges, type UidRange } from '../model/uid-set.js';
import type { UpstreamFetch } from '../upstream/fetch-parse.js';
import { atom, type Token } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { AccountContext } from './account-context.js';
import { ModseqAssigner } from './modseq-assigner.js';
import type { FolderChanges } from './update-journal.js';

const META_ITEMS = ['UID', 'FLAGS', 'RFC822.SIZE', 'INTERNALDATE'];
const GMAIL_EXTENSION = 'X-GM-EXT-1';

const sameFlags = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((flag) => b.includes(flag));

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
}

/**
 * Brings a folder generation's cached metadata up to date with upstream, on a connection that
 * has the folder selected and the status it just reported, and says what it found; the folder
 * applies it (folder.ts). New and changed metadata is written as it arrives, in batches. One
 * round trip when upstream has QRESYNC (UID FETCH 1:* ... (CHANGEDSINCE m VANISHED)), a full
 * flag fetch when it has no CONDSTORE. `quiet`: a new generation's first fill, which no session
 * is told of: its new messages are not listed one by one (a 1,000,000-message folder would
 * otherwise hold an object per message until the end).
 */
export async function syncFolder(input: SyncInput, conn: UpstreamConnection, status: FolderStatus, options: { quiet?: boolean } = {}): Promise<SyncResult> {
  const { store } = input.account;
  let record = input.record;
  const fid = record.fid;
  if (status.keywords && status.keywords.join(' ') !== (record.keywords ?? []).join(' ')) record = { ...record, keywords: status.keywords };
  const changes: FolderChanges = { added: [], expunged: [], flagged: [] };
  const known = input.uids;
  const condstore = status.highestModseq !== '0';
  const unchanged = record.highestModseq === status.highestModseq && record.uidNext === status.uidNext && known.length === status.messages;
  if (condstore && !status.stale && unchanged) {
    return { record, uids: known as Uid[], changes, modseqBase: clientModseq(record) + 1 };
  }

  // what changed gets the proxy's own modseqs, upstream's where they are higher
  const modseqs = new ModseqAssigner(clientModseq(record));
  const incremental = condstore && record.highestModseq !== '0' && known.length > 0;
  // without anything cached, nothing can have gone: no set of every UID upstream has
  const seen = incremental || known.length === 0 ? undefined : new Set<Uid>();
  /** New messages' UIDs; `quiet` (a new generation's first fill, nobody's news): not listed in the changes too. */
  const addedUids: Uid[] = [];
  const vanished: UidRange[] = [];
  let pending: MessageMeta[] = [];
  let maxUid = 0;
  /** The highest modseq among what the fetch reported: a stale status's HIGHESTMODSEQ is old. */
  let maxModseq = BigInt(record.highestModseq);

  /** Writes a batch of fetched metadata; flag changes of known messages are compared with the cache. */
  const flush = async () => {
    const batch = pending;
    pending = [];
    const knownMetas = batch.filter((meta) => indexOfUid(known, meta.uid) >= 0);
    const before = knownMetas.length ? await store.getMetas(fid, knownMetas.map((m) => m.uid)) : [];
    knownMetas.forEach((meta, i) => {
      const old = before[i];
      const flagsChanged = !old || !sameFlags(old.flags, meta.flags);
      meta.modseq = flagsChanged || !old ? String(modseqs.next(meta.modseq)) : old.modseq;
      if (flagsChanged) changes.flagged.push({ uid: meta.uid, flags: meta.flags, modseq: meta.modseq });
    });
    for (const meta of batch) {
      if (indexOfUid(known, meta.uid) >= 0) continue;
      meta.modseq = String(modseqs.next(meta.modseq));
      addedUids.push(meta.uid);
      if (!options.quiet) changes.added.push({ uid: meta.uid, modseq: meta.modseq });
    }
    await store.putMetas(fid, batch);
  };

  /** Keywords on messages that the folder's record does not list yet (a stale status has no FLAGS list). */
  const keywords = new Set(record.keywords ?? []);
  const newKeywords: string[] = [];
  const onFetch = async (fetched: UpstreamFetch) => {
    seen?.add(fetched.uid);
    for (const flag of fetched.flags ?? []) {
      if (flag.startsWith('\\') || keywords.has(flag)) continue;
      keywords.add(flag);
      newKeywords.push(flag);
    }
    if (fetched.size === undefined || fetched.internalDate === undefined || fetched.flags === undefined) {
      return; // an unsolicited flag update: the fetch itself reports the current flags
    }
    maxUid = Math.max(maxUid, fetched.uid);
    if (fetched.modseq && BigInt(fetched.modseq) > maxModseq) maxModseq = BigInt(fetched.modseq);
    const meta: MessageMeta = { uid: fetched.uid, flags: fetched.flags, modseq: fetched.modseq ?? '0', size: fetched.size, internalDate: fetched.internalDate };
    if (fetched.gmMsgId) meta.gmMsgId = fetched.gmMsgId;
    pending.push(meta);
    if (pending.length >= META_WRITE_BATCH) await flush();
  };

  // Gmail: the message's id under every label, so that its body is stored (and fetched) once
  const gmail = conn.hasCapability(GMAIL_EXTENSION) ? ['X-GM-MSGID'] : [];
  const items: Token[] = [...META_ITEMS, ...(condstore ? ['MODSEQ'] : []), ...gmail].map(atom);
  await conn.uidFetch('1:*', items, onFetch, {
    ...(incremental
      ? {
          modifiers: [atom('CHANGEDSINCE'), atom(record.highestModseq), ...(conn.qresyncEnabled ? [atom('VANISHED')] : [])],
          onVanished: (set: string) => vanished.push(...parseUidRanges(set)),
        }
      : {}),
  });
  await flush();

  let uids = mergeSorted(known, addedUids.slice().sort((a, b) => a - b));
  const expunged = seen ? known.filter((uid) => !seen.has(uid)) : uidsInRanges(uids, vanished);
  uids = removeSorted(uids, expunged);

  if (uids.length !== status.messages) {
    // no QRESYNC, or the folder changed while we looked: ask upstream which UIDs exist
    const existing = await conn.uidSearch([atom('ALL')]);
    existing.sort((a, b) => a - b);
    const existingSet = new Set(existing);
    const gone = uids.filter((uid) => !existingSet.has(uid));
    expunged.push(...gone);
    uids = removeSorted(uids, gone);
    const missing = existing.filter((uid) => indexOfUid(uids, uid) < 0);
    if (missing.length > 0) {
      const before = addedUids.length;
      await conn.uidFetch(toSequenceSet(missing), items, onFetch);
      await flush();
      uids = mergeSorted(uids, addedUids.slice(before).sort((a, b) => a - b));
    }
  }

  changes.expunged = expunged.sort((a, b) => a - b);
  if (expunged.length) changes.expungedAt = modseqs.expunged();
  changes.added.sort((a, b) => a.uid - b.uid);
  const modseq = modseqs.counter(condstore ? Number(status.highestModseq) : 0);
  const next: FolderRecord = {
    ...record,
    ...(newKeywords.length ? { keywords: [...(record.keywords ?? []), ...newKeywords] } : {}),
    // UIDNEXT never goes down: a stale status's is at most the record's
    uidNext: Math.max(status.uidNext, status.stale ? record.uidNext : 0, maxUid + 1),
    highestModseq: status.stale && condstore ? String(maxModseq > BigInt(status.highestModseq) ? maxModseq : BigInt(status.highestModseq)) : status.highestModseq,
    messages: uids.length,
    lastSync: Date.now(),
    modseq,
    // expunges are recorded from a generation's first fill on
    ...(options.quiet ? { vanishedFrom: modseq } : {}),
  };
  return { record: next, uids, changes, modseqBase: modseqs.base };
}

function removeSorted(uids: readonly Uid[], remove: readonly Uid[]): Uid[] {
  if (remove.length === 0) return uids as Uid[];
  const drop = new Set(remove);
  return uids.filter((uid) => !drop.has(uid));
}
