import { FULL_BODY } from '../cache/keys.js';
import { headerLengthOf } from '../cache/header-boundary.js';
import type { FolderPath, Uid } from '../model/types.js';
import { toSequenceSet } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import { atom } from '../upstream/imap-tokens.js';
import type { CopyUid } from '../upstream/response-codes.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { Account } from './account.js';
import type { Folder } from './folder.js';

/*
 * Commands that change mail: upstream first, the client's OK only when upstream said OK, and
 * then the cache reflects it. `origin` is the id of the client session that asked: it gets its
 * own EXPUNGE / FETCH responses from its handler, every other session from the update journal.
 */

const client = (folder: FolderPath, readWrite = true) => ({ folder, readWrite, priority: Priority.Client });

/** EXPUNGE (all \Deleted), UID EXPUNGE (those of `uids`), CLOSE. Returns the UIDs gone. */
export async function expungeMessages(folder: Folder, uids: readonly Uid[] | undefined, origin?: string): Promise<Uid[]> {
  if (uids && uids.length === 0) return [];
  const gone = await folder.account.pool.run(client(folder.path), async (conn) => {
    const vanished = await conn.expunge(uids ? toSequenceSet(uids) : undefined);
    return vanished ?? (await missingUpstream(conn, folder));
  });
  await folder.applyExpunged(gone, origin);
  return gone;
}

/** Cached UIDs that upstream no longer has (when it did not say which it expunged). */
async function missingUpstream(conn: UpstreamConnection, folder: Folder): Promise<Uid[]> {
  const existing = new Set(await conn.uidSearch([atom('ALL')]));
  return (folder.generation?.uids ?? []).filter((uid) => !existing.has(uid));
}

/**
 * COPY and MOVE. Returns the COPYUID (resolved by looking when upstream has no UIDPLUS). A move
 * takes the cached bodies along to the destination, so a message moved to Trash or an archive
 * is not downloaded again.
 */
export async function transferMessages(
  source: Folder,
  destination: Folder,
  uids: readonly Uid[],
  mode: 'copy' | 'move',
  origin?: string,
): Promise<CopyUid | undefined> {
  if (uids.length === 0) return undefined;
  const set = toSequenceSet(uids);
  const result = await source.account.pool.run(client(source.path, mode === 'move'), async (conn) => {
    const before = conn.hasCapability('UIDPLUS') ? undefined : await conn.status(destination.path);
    let moved: { copyUid?: CopyUid; vanished?: number[] };
    if (mode === 'copy') {
      const copyUid = await conn.uidCopy(set, destination.path, uids.length);
      moved = copyUid ? { copyUid } : {};
    } else if (conn.hasCapability('MOVE')) {
      moved = await conn.uidMove(set, destination.path, uids.length);
    } else {
      // no MOVE upstream: COPY, then \Deleted and UID EXPUNGE of exactly those messages
      const copyUid = await conn.uidCopy(set, destination.path, uids.length);
      await conn.uidStore(set, '+FLAGS', ['\\Deleted']);
      const vanished = await conn.expunge(set);
      moved = { ...(copyUid ? { copyUid } : {}), ...(vanished ? { vanished } : {}) };
    }
    return { ...moved, before };
  });
  const copyUid = result.copyUid ?? (result.before ? await resolveNewUids(destination, result.before.uidNext, uids) : undefined);
  if (mode === 'move') {
    if (copyUid) await destination.adoptBodies(source, copyUid);
    await source.applyExpunged(result.vanished ?? [...uids], origin);
  }
  await destination.resync();
  return copyUid;
}

/**
 * Without UIDPLUS, the copies are the messages at or above the destination's UIDNEXT of just
 * before, in the same order as their originals.
 */
async function resolveNewUids(destination: Folder, uidNext: number, sources: readonly Uid[]): Promise<CopyUid | undefined> {
  return destination.account.pool.run(client(destination.path, false), async (conn, opened) => {
    const status = opened ?? (await conn.open(destination.path, true));
    const found = (await conn.uidSearch([atom('UID'), atom(`${uidNext}:*`)])).filter((uid) => uid >= uidNext).sort((a, b) => a - b);
    if (found.length < sources.length) return undefined;
    const fresh = found.slice(0, sources.length);
    return { uidValidity: status.uidValidity, map: new Map(sources.map((uid, i) => [uid, fresh[i] as Uid])) };
  });
}

/**
 * APPEND: the message goes upstream, and the bytes the client sent become the cached body of the
 * new UID (never parsed: only the header's end is looked for).
 */
export async function appendMessage(
  account: Account,
  path: FolderPath,
  message: Buffer,
  flags: readonly string[],
  internalDate?: string,
): Promise<{ uidValidity: number; uid: Uid } | undefined> {
  const folder = account.folder(path);
  const result = await account.pool.run({ priority: Priority.Client }, async (conn) => {
    const before = conn.hasCapability('UIDPLUS') ? undefined : await conn.status(folder.path);
    return { appended: await conn.append(folder.path, message, flags, internalDate), before };
  });
  let appended = result.appended;
  if (!appended && result.before) {
    const resolved = await resolveNewUids(folder, result.before.uidNext, [0]);
    const uid = resolved?.map.get(0);
    if (resolved && uid) appended = { uidValidity: resolved.uidValidity, uid };
  }
  await folder.load();
  const generation = folder.generation;
  if (appended && generation?.record.uidValidity === appended.uidValidity) {
    await account.store.storeSection(generation.fid, appended.uid, FULL_BODY, message, headerLengthOf(message)).written;
  }
  await folder.resync();
  return appended;
}
