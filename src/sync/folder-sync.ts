import type { BatchOp } from '../cache/cache-store.js';
import { META_WRITE_BATCH } from '../model/limits.js';
import type { FolderStatus, MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, parseUidRanges, toSequenceSet, uidsInRanges, type UidRange } from '../model/uid-set.js';
import type { UpstreamFetch } from '../upstream/fetch-parse.js';
import { atom, type Token } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { Folder, FolderChanges } from './folder.js';

const META_ITEMS = ['UID', 'FLAGS', 'RFC822.SIZE', 'INTERNALDATE'];

/**
 * Brings a folder's cached metadata up to date with upstream, on a connection that has the
 * folder selected and the status it just reported. One round trip when upstream has QRESYNC
 * (UID FETCH 1:* ... (CHANGEDSINCE m VANISHED)), a full flag fetch when it has no CONDSTORE.
 */
export async function syncFolder(folder: Folder, conn: UpstreamConnection, status: FolderStatus): Promise<void> {
  let record = folder.record;
  if (!record || record.uidValidity !== status.uidValidity) record = await folder.startGeneration(status.uidValidity);
  const { store } = folder.account;
  const fid = record.fid;
  if (status.keywords && status.keywords.join(' ') !== (record.keywords ?? []).join(' ')) {
    record = { ...record, keywords: status.keywords };
    await store.batch([store.folderPutOp(folder.account.id, folder.path, record)]);
    folder.record = record;
  }
  const condstore = status.highestModseq !== '0';
  if (condstore && record.highestModseq === status.highestModseq && record.uidNext === status.uidNext && folder.uids.length === status.messages) {
    return;
  }

  const known = folder.uids;
  const incremental = condstore && record.highestModseq !== '0' && known.length > 0;
  const seen = incremental ? undefined : new Set<Uid>();
  const vanished: UidRange[] = [];
  const added: Uid[] = [];
  const changes: FolderChanges = { added, expunged: [], flagged: [] };
  const ops: BatchOp[] = [];
  let maxUid = 0;

  const onFetch = async (fetched: UpstreamFetch) => {
    seen?.add(fetched.uid);
    if (fetched.size === undefined || fetched.internalDate === undefined || fetched.flags === undefined) {
      return; // an unsolicited flag update: the fetch itself reports the current flags
    }
    const meta: MessageMeta = {
      uid: fetched.uid,
      flags: fetched.flags,
      modseq: fetched.modseq ?? '0',
      size: fetched.size,
      internalDate: fetched.internalDate,
    };
    if (indexOfUid(known, meta.uid) < 0) added.push(meta.uid);
    else changes.flagged.push({ uid: meta.uid, flags: meta.flags, modseq: meta.modseq });
    maxUid = Math.max(maxUid, meta.uid);
    ops.push(store.metaPutOp(fid, meta));
    if (ops.length >= META_WRITE_BATCH) await store.batch(ops.splice(0));
  };

  const items: Token[] = [...META_ITEMS, ...(condstore ? ['MODSEQ'] : [])].map(atom);
  await conn.uidFetch('1:*', items, onFetch, {
    ...(incremental
      ? {
          modifiers: [atom('CHANGEDSINCE'), atom(record.highestModseq), ...(conn.qresyncEnabled ? [atom('VANISHED')] : [])],
          onVanished: (set: string) => vanished.push(...parseUidRanges(set)),
        }
      : {}),
  });

  added.sort((a, b) => a - b);
  let uids = mergeSorted(known, added);
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
      const before = added.length;
      await conn.uidFetch(toSequenceSet(missing), items, onFetch);
      uids = mergeSorted(uids, added.slice(before).sort((a, b) => a - b));
    }
  }

  const deletes = await store.messageDeletes(fid, expunged);
  ops.push(...deletes.ops);
  const nextRecord = {
    ...record,
    uidNext: Math.max(status.uidNext, maxUid + 1),
    highestModseq: status.highestModseq,
    messages: uids.length,
    lastSync: Date.now(),
  };
  ops.push(store.folderPutOp(folder.account.id, folder.path, nextRecord));
  await store.batch(ops);
  await store.dropChunks(deletes.chunks);
  folder.record = nextRecord;
  folder.uids = uids;
  changes.expunged = expunged.sort((a, b) => a - b);
  if (expunged.length) folder.bodies.forget(expunged);
  if (changes.added.length || changes.expunged.length || changes.flagged.length) folder.emit('changes', changes);
}

function mergeSorted(a: readonly Uid[], b: readonly Uid[]): Uid[] {
  if (b.length === 0) return a.slice();
  const out: Uid[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x < y)) {
      out.push(x as Uid);
      i++;
    } else if (x === undefined || y < x) {
      out.push(y);
      j++;
    } else {
      out.push(x);
      i++;
      j++;
    }
  }
  return out;
}

function removeSorted(uids: readonly Uid[], remove: readonly Uid[]): Uid[] {
  if (remove.length === 0) return uids.slice();
  const drop = new Set(remove);
  return uids.filter((uid) => !drop.has(uid));
}
