import { bodyStored } from '../cache/gc-pacer.js';
import { contentId, FULL_BODY } from '../cache/keys.js';
import type { FolderPath, Uid } from '../model/types.js';
import { toSequenceSet } from '../model/uid-set.js';
import { Priority } from '../upstream/connection-pool.js';
import { atom } from '../upstream/imap-tokens.js';
import type { CopyUid } from '../upstream/response-codes.js';
import type { OutgoingMessage } from '../upstream/streamed-append.js';
import type { AppendUid, UpstreamConnection } from '../upstream/upstream-connection.js';
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
 * One message of a client's APPEND, complete (in memory or spooled), read when needed; with the
 * SHA-256 of its bytes when they were taken as they are (not assembled by CATENATE).
 */
export type AppendingMessage = OutgoingMessage & { digest?: Buffer };

/**
 * APPEND of one message, or MULTIAPPEND (RFC 3502) of several: all or nothing. Where upstream has
 * MULTIAPPEND it is one upstream command; elsewhere one APPEND per message, and when one fails
 * the messages appended before it are expunged again. Bodies are streamed upstream; once upstream
 * took them they become the cached bodies of their new UIDs (never parsed: only the header's end
 * is looked for), except literal8 ones, which upstream may store otherwise than sent.
 */
export async function appendMessages(account: Account, path: FolderPath, messages: readonly AppendingMessage[]): Promise<AppendUid | undefined> {
  const folder = account.folder(path);
  await folder.load();
  const registered = Promise.withResolvers<void>();
  // its messages get UIDs from the cached UIDNEXT up: a session told of them by upstream first waits for their bytes
  const current = folder.generation;
  current?.bodies.appendUnderWay(current.record.uidNext as Uid, registered.promise);
  try {
    return await appendThenStore(account, folder, messages, registered.resolve);
  } finally {
    registered.resolve();
  }
}

/** appendMessages' work; `registered` once the bodies are registered for storing (or will not be). */
async function appendThenStore(account: Account, folder: Folder, messages: readonly AppendingMessage[], registered: () => void): Promise<AppendUid | undefined> {
  const outcome = await account.pool.run({ priority: Priority.Client }, async (conn) => {
    const before = conn.hasCapability('UIDPLUS') ? undefined : await conn.status(folder.path);
    if (messages.length === 1 || conn.hasCapability('MULTIAPPEND')) return { appended: await conn.append(folder.path, messages), before, count: messages.length };
    return { ...(await appendOneByOne(conn, folder.path, messages)), before };
  });
  const appended = outcome.appended ?? (outcome.before ? await resolveAppended(folder, outcome.before.uidNext, outcome.count) : undefined);
  if ('failure' in outcome) {
    if (appended) await expungeAppended(folder, appended.uids);
    throw outcome.failure;
  }
  await folder.load();
  const generation = folder.generation;
  if (appended && generation?.record.uidValidity === appended.uidValidity) {
    const uids = appended.uids as Uid[];
    const stored = (async () => {
      const done: Uid[] = [];
      for (const [i, uid] of uids.entries()) {
        const message = messages[i];
        if (message && !message.literal8 && (await cacheBody(account, generation.fid, uid, message))) done.push(uid);
      }
      return done;
    })();
    generation.bodies.storeLocally(uids, stored);
    registered();
    await stored;
  }
  await folder.resync();
  return appended;
}

/**
 * Without MULTIAPPEND upstream: one APPEND per message. Stops at the first that upstream refuses,
 * and says which were appended before it.
 */
async function appendOneByOne(
  conn: UpstreamConnection,
  path: FolderPath,
  messages: readonly AppendingMessage[],
): Promise<{ appended?: AppendUid; count: number; failure?: unknown }> {
  const uids: number[] = [];
  let uidValidity: number | undefined;
  let count = 0;
  const appended = () => (uidValidity === undefined ? {} : { appended: { uidValidity, uids } });
  try {
    for (const message of messages) {
      const one = await conn.append(path, [message]);
      count++;
      if (one) {
        uidValidity = one.uidValidity;
        uids.push(...one.uids);
      }
    }
    return { ...appended(), count };
  } catch (failure) {
    return { ...appended(), count, failure };
  }
}

/**
 * An appended message's bytes, as the client sent them, become its cached body; whether they did.
 * A body stored already (the same message appended again, or cached in another folder) is a
 * reference to it: nothing is written, and no chunk is written only to be dropped and compacted
 * away again (body-store.ts, reclaim).
 */
async function cacheBody(account: Account, fid: string, uid: Uid, message: AppendingMessage): Promise<boolean> {
  if (message.digest && (await account.store.linkBody(fid, uid, contentId(account.id, message.digest, message.size)))) return true;
  const writer = account.store.sectionWriter({ acct: account.id, fid }, uid, FULL_BODY, 'scan', message.digest);
  try {
    for await (const chunk of message.open()) await writer.write(chunk as Buffer);
    await writer.end();
    bodyStored(message.size);
    return true;
  } catch (err) {
    await writer.abandon();
    account.log.warn({ err, uid }, 'an appended message could not be cached: it is fetched when needed');
    return false;
  }
}

/** Without UIDPLUS: the appended messages are the first `count` at or above UIDNEXT of just before. */
async function resolveAppended(folder: Folder, uidNext: number, count: number): Promise<AppendUid | undefined> {
  if (count === 0) return undefined;
  const resolved = await resolveNewUids(folder, uidNext, Array.from({ length: count }, (_, i) => i as Uid));
  return resolved ? { uidValidity: resolved.uidValidity, uids: [...resolved.map.values()] } : undefined;
}

/** Takes back the messages of an APPEND that failed midway. */
async function expungeAppended(folder: Folder, uids: readonly number[]): Promise<void> {
  const set = toSequenceSet(uids as Uid[]);
  await folder.account.pool.run(client(folder.path), async (conn) => {
    await conn.uidStore(set, '+FLAGS', ['\\Deleted']);
    await conn.expunge(set);
  });
}
