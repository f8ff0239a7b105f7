import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import { GARBAGE_BATCH, META_READ_AHEAD, METADATA_SCAN_BATCH, SECTION_INLINE_MAX, SECTION_READ_AHEAD, SECTION_READ_AHEAD_ASKED, SECTION_READ_AHEAD_RECORDS } from '../model/limits.js';
import type { AccountId, FolderPath, MessageMeta, MessageStructure, Uid } from '../model/types.js';
import { parseUidRanges, toSequenceSet, type UidRange } from '../model/uid-set.js';
import { BodyContents, contentIdOf } from './body-contents.js';
import { BodyStore } from './body-store.js';
import type { Snapshot } from './cache-scan.js';
import { sweepOrphans, verifyCache, type GenerationOwner, type VerifyResult, type VerifyTarget } from './cache-verify.js';
import { migrateBodies } from './content-migration.js';
import { FULL_BODY, keys, parseSectionKey, prefixEnd, sectionKeyPart, uidOfMetaKey } from './keys.js';
import { Ledger } from './ledger.js';
import {
  clientModseq,
  decodeContent,
  decodeMeta,
  decodeSection,
  decodeStructure,
  encodeMeta,
  encodeStructure,
  type AccountRecord,
  type ChunkRange,
  type ContentRecord,
  type DownloadRecord,
  type FolderListRecord,
  type FolderRecord,
  type ModseqMark,
  type SectionRecord,
} from './records.js';
import { readRange } from './range-read.js';
import { ReadAheadWindows } from './read-ahead.js';
import { openSection, openSectionNow, scanSection, type SectionContent } from './section-reader.js';
import { headerBlockOps, SectionWriter, storeSection, type HeaderRule, type SectionTarget } from './section-writer.js';
import { WriteQueue, type BatchOp } from './write-queue.js';
import { cacheBytesRead } from './gc-pacer.js';

export type { VerifyProblem, VerifyResult } from './cache-verify.js';
export type { ChunkRange, HeaderRule, SectionContent, SectionRecord, FolderRecord, FolderListRecord, AccountRecord, DownloadRecord };

/** What a folder generation holds, against what the folder has. */
export interface FolderUsage {
  /** Messages in the folder: the metadata of every one is cached. */
  messages: number;
  /** Messages whose whole body is cached, and the bytes of those bodies. */
  bodies: number;
  bodyBytes: number;
  /** The bytes of every message's body (RFC822.SIZE): what bodyBytes reaches once all are cached. */
  totalBytes: number;
  /** Header blocks and MIME parts cached apart from whole bodies. */
  otherBytes: number;
}

/** Whole bodies stored by content: each distinct body once per account, however many of its folders have it. */
export interface SharingUsage {
  /** Distinct bodies stored, and their bytes. */
  contents: number;
  storedBytes: number;
  /** The bytes of every folder's reference to them: what storing each copy would take. */
  referencedBytes: number;
  /** referencedBytes - storedBytes. */
  savedBytes: number;
}

/** A folder generation and the account it belongs to: where a section is stored (whole bodies once per account). */
export interface GenerationKey {
  acct: AccountId;
  fid: string;
}

/** A folder whose record a write changes, with that record. */
export interface FolderChange {
  acct: AccountId;
  path: FolderPath;
  record: FolderRecord;
}

/** A message's metadata to write; `previousModseq`: the modseq its cached record has, whose index entry goes. */
export interface MetaWrite {
  meta: MessageMeta;
  previousModseq?: string;
}

const JSON_OPTS = { valueEncoding: 'utf8' } as const;

/** Records read as Buffers (header blocks, structures) are spent as soon as they are answered: paced like body chunks (gc-pacer.ts). */
function paced<T extends { length: number } | undefined>(values: T[]): T[] {
  let bytes = 0;
  for (const value of values) bytes += value?.length ?? 0;
  cacheBytesRead(bytes);
  return values;
}

/**
 * The cache: the only module that talks to LevelDB. Two databases under the cache directory:
 * `meta` (small records, key layout in keys.ts) and `bodies` (section bytes, body-store.ts).
 * Callers get typed records and byte streams.
 */
export class CacheStore {
  private readonly garbageRunning = new Set<string>();
  private readonly writes: WriteQueue;
  private readonly metaReadAhead = new ReadAheadWindows<MessageMeta>('m');
  /** Per message: its section records by section key part. */
  private readonly sectionReadAhead = new ReadAheadWindows<Map<string, SectionRecord>>('h');
  private readonly contents: BodyContents;
  private closed = false;
  /** Nothing in the cache is unreferenced but what this process may leave: a clean stop says so for the next start. */
  private orphansSwept = false;

  private constructor(
    private readonly db: Level<string, Buffer>,
    private readonly bodies: BodyStore,
    private readonly log: Logger,
  ) {
    this.writes = new WriteQueue(db, (ops) => {
      this.metaReadAhead.written(ops);
      this.sectionReadAhead.written(ops);
    });
    this.contents = new BodyContents(new Ledger(db, this.writes, bodies));
    bodies.onReclaimed = (range) => {
      this.batch([{ type: 'del', key: keys.reclaim(range.start) }]).catch(() => undefined);
    };
  }

  /**
   * Opens (by default creating) the cache in `dir`; `create: false` fails when there is none.
   * `sweep` (the proxy, not an admin command) drops in the background what a crash left
   * unreferenced: at a start after anything but the proxy's own clean stop (keys.ts `z!stopped`;
   * any open takes that mark away, so that whatever comes next is checked).
   */
  static async open(dir: string, log: Logger, options: { create?: boolean; sweep?: boolean } = {}): Promise<CacheStore> {
    if (options.create === false && !existsSync(join(dir, 'meta'))) {
      throw new ProxyError('CACHE_FAILURE', `there is no cache in ${dir}`, { context: { dir } });
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const db = new Level<string, Buffer>(join(dir, 'meta'), {
      keyEncoding: 'utf8',
      valueEncoding: 'buffer',
      writeBufferSize: 4 * 1024 * 1024,
      cacheSize: 4 * 1024 * 1024,
    });
    let bodies: BodyStore | undefined;
    try {
      await db.open();
      bodies = await BodyStore.open(join(dir, 'bodies'));
    } catch (err) {
      await db.close().catch(() => undefined);
      const code = (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
      const hint = code === 'LEVEL_LOCKED' ? ' (another imap-cache-proxy is using this data directory)' : '';
      throw new ProxyError('CACHE_FAILURE', `cannot open the cache in ${dir}${hint}`, { cause: err, context: { dir } });
    }
    const stoppedCleanly = (await db.get(keys.stoppedCleanly())) !== undefined;
    if (stoppedCleanly) await db.del(keys.stoppedCleanly(), { sync: true } as never);
    const store = new CacheStore(db, bodies, log.child({ component: 'cache' }));
    store.resumeGarbageCollection();
    if (options.sweep) {
      (stoppedCleanly ? Promise.resolve(true) : store.sweepOrphans()).then((swept) => {
        store.orphansSwept = swept;
        store.resumeReclaim();
      });
      store.migrateBodies();
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // what is queued lands first: a section's chunks, then (queued when they are written) its record
    while (this.writes.busy || this.bodies.writing) {
      await Promise.all([this.writes.idle(), this.bodies.writesDone()]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // chunks still in flight (a section neither recorded nor given up) would be left unreferenced
    if (this.orphansSwept && this.bodies.allSettled()) await this.db.put(keys.stoppedCleanly(), Buffer.from('1'), { sync: true } as never);
    await this.db.close();
    await this.bodies.close();
  }

  // accounts and folders ---------------------------------------------------------------------

  async getAccount(acct: AccountId): Promise<AccountRecord | undefined> {
    return this.getJson<AccountRecord>(keys.account(acct));
  }

  async putAccount(acct: AccountId, record: AccountRecord): Promise<void> {
    await this.batch([{ type: 'put', key: keys.account(acct), value: JSON.stringify(record) }]);
  }

  async getDownloads(acct: AccountId): Promise<DownloadRecord | undefined> {
    return this.getJson<DownloadRecord>(keys.downloads(acct));
  }

  async putDownloads(acct: AccountId, record: DownloadRecord): Promise<void> {
    await this.batch([{ type: 'put', key: keys.downloads(acct), value: JSON.stringify(record) }]);
  }

  async getFolderList(acct: AccountId): Promise<FolderListRecord | undefined> {
    return this.getJson<FolderListRecord>(keys.folderList(acct));
  }

  async putFolderList(acct: AccountId, record: FolderListRecord): Promise<void> {
    await this.batch([{ type: 'put', key: keys.folderList(acct), value: JSON.stringify(record) }]);
  }

  async getFolder(acct: AccountId, path: FolderPath): Promise<FolderRecord | undefined> {
    return this.getJson<FolderRecord>(keys.folder(acct, path));
  }

  /** A folder's record, changed (keywords, UIDNEXT, modseqs), in one write. */
  async putFolder(acct: AccountId, path: FolderPath, record: FolderRecord): Promise<void> {
    await this.batch([this.folderPutOp(acct, path, record)]);
  }

  newFolderId(): string {
    return randomBytes(8).toString('hex');
  }

  /**
   * Replaces a folder's generation: the record now points at a new, empty fid (or is removed
   * when `next` is undefined) and the old generation's data is deleted in the background.
   */
  async replaceFolder(acct: AccountId, path: FolderPath, old: FolderRecord | undefined, next: FolderRecord | undefined): Promise<void> {
    const ops: BatchOp[] = [];
    ops.push(next ? this.folderPutOp(acct, path, next) : { type: 'del', key: keys.folder(acct, path) });
    if (old) ops.push({ type: 'put', key: keys.garbage(old.fid), value: '' });
    await this.batch(ops);
    if (old) this.collectGarbage(old.fid);
  }

  /**
   * A folder and its subfolders under a new name (RENAME upstream): the records move, each
   * keeping its generation, so nothing cached is lost.
   */
  async renameFolders(acct: AccountId, from: FolderPath, to: FolderPath): Promise<void> {
    const ops: BatchOp[] = [];
    const prefix = keys.folderPrefix(acct);
    for await (const [key, value] of readRange(this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) }))) {
      const path = key.slice(prefix.length);
      if (path !== from && !path.startsWith(`${from}/`)) continue;
      ops.push({ type: 'del', key }, { type: 'put', key: keys.folder(acct, to + path.slice(from.length)), value });
    }
    await this.batch(ops);
  }

  // administration ---------------------------------------------------------------------------

  async listAccounts(snapshot?: Snapshot): Promise<{ id: AccountId; record: AccountRecord }[]> {
    const prefix = keys.accountPrefix();
    const accounts: { id: AccountId; record: AccountRecord }[] = [];
    for await (const [key, value] of readRange(this.db.iterator({ gte: prefix, lt: prefixEnd(prefix), valueEncoding: 'utf8', snapshot } as never))) {
      accounts.push({ id: (key as string).slice(prefix.length), record: JSON.parse(value as unknown as string) as AccountRecord });
    }
    return accounts;
  }

  async listFolders(acct: AccountId, snapshot?: Snapshot): Promise<{ path: FolderPath; record: FolderRecord }[]> {
    const prefix = keys.folderPrefix(acct);
    const folders: { path: FolderPath; record: FolderRecord }[] = [];
    for await (const [key, value] of readRange(this.db.iterator({ gte: prefix, lt: prefixEnd(prefix), valueEncoding: 'utf8', snapshot } as never))) {
      folders.push({ path: (key as string).slice(prefix.length), record: JSON.parse(value as unknown as string) as FolderRecord });
    }
    return folders;
  }

  /** What a folder generation holds, counted from its records. */
  async folderUsage(fid: string): Promise<FolderUsage> {
    const usage: FolderUsage = { messages: 0, bodies: 0, bodyBytes: 0, totalBytes: 0, otherBytes: 0 };
    const metas = keys.metaPrefix(fid);
    for await (const [key, value] of readRange(this.db.iterator({ gte: metas, lt: prefixEnd(metas), valueEncoding: 'utf8' } as never)) as unknown as AsyncIterable<[string, string]>) {
      usage.messages++;
      usage.totalBytes += decodeMeta(uidOfMetaKey(key), value).size;
    }
    const sections = keys.sectionPrefix(fid);
    const fullBody = `!${sectionKeyPart(FULL_BODY)}`;
    for await (const [key, value] of readRange(this.db.iterator({ gte: sections, lt: prefixEnd(sections) }))) {
      const { length } = decodeSection(value);
      if (key.endsWith(fullBody)) {
        usage.bodies++;
        usage.bodyBytes += length;
      } else {
        usage.otherBytes += length;
      }
    }
    return usage;
  }

  /**
   * Drops the cache of these folders (and, with `wholeAccount`, the account's folder list) in one
   * write; their data is deleted in the background. Returns at once whatever the cache's size.
   */
  async clearFolders(acct: AccountId, folders: readonly { path: FolderPath; record: FolderRecord }[], wholeAccount: boolean): Promise<void> {
    const ops: BatchOp[] = folders.flatMap(({ path, record }): BatchOp[] => {
      const mark: ModseqMark = { uidValidity: record.uidValidity, modseq: clientModseq(record) };
      return [
        { type: 'del', key: keys.folder(acct, path) },
        { type: 'put', key: keys.modseqMark(acct, path), value: JSON.stringify(mark) },
        { type: 'put', key: keys.garbage(record.fid), value: '' },
      ];
    });
    if (wholeAccount) ops.push({ type: 'del', key: keys.folderList(acct) });
    await this.batch(ops);
    for (const { record } of folders) this.collectGarbage(record.fid);
  }

  /** The HIGHESTMODSEQ a cleared cache of the folder had told clients, if it was cleared. */
  async getModseqMark(acct: AccountId, path: FolderPath): Promise<ModseqMark | undefined> {
    return this.getJson<ModseqMark>(keys.modseqMark(acct, path));
  }

  /** An account's whole bodies stored by content: what sharing them across its folders saves (see SharingUsage). */
  async sharing(acct: AccountId): Promise<SharingUsage> {
    const usage: SharingUsage = { contents: 0, storedBytes: 0, referencedBytes: 0, savedBytes: 0 };
    const prefix = keys.contentPrefix(acct);
    for await (const value of readRange(this.db.values({ gte: prefix, lt: prefixEnd(prefix) }))) {
      const { length, refs } = decodeContent(value);
      usage.contents++;
      usage.storedBytes += length;
      usage.referencedBytes += length * refs;
    }
    usage.savedBytes = usage.referencedBytes - usage.storedBytes;
    return usage;
  }

  /** Resolves when no dropped generation is left to delete (a stopped proxy's clear waits for it). */
  async garbageCollected(): Promise<void> {
    while (this.garbageRunning.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** Checks every cached section and, with `repair`, drops what is wrong (see cache-verify.ts). */
  verify(repair: boolean): Promise<VerifyResult> {
    return verifyCache(this.verifyTarget(), repair);
  }

  // messages ---------------------------------------------------------------------------------

  /** Metadata of messages, new or changed, in one write. */
  async putMetas(fid: string, writes: readonly MetaWrite[]): Promise<void> {
    await this.batch(writes.flatMap((write) => this.metaPutOps(fid, write)));
  }

  /**
   * Flags changed: the messages' metadata and, with `folder`, the folder's new record (the
   * proxy's own modseq counter) in one write.
   */
  async updateMetas(fid: string, writes: readonly MetaWrite[], folder?: FolderChange): Promise<void> {
    const ops = writes.flatMap((write) => this.metaPutOps(fid, write));
    if (folder) ops.push(this.folderPutOp(folder.acct, folder.path, folder.record));
    await this.batch(ops);
  }

  /**
   * The messages whose modseq is above `modseq`, from the modseq index, without reading a record;
   * undefined when there are more than `limit`. Where two writes of one message raced, an entry
   * can be left with a modseq the message no longer has: callers check the metadata they read.
   */
  async changedSince(fid: string, modseq: number, limit: number): Promise<Set<Uid> | undefined> {
    const uids = new Set<Uid>();
    let entries = 0;
    for await (const key of readRange(this.db.keys({ gte: keys.changedAbove(fid, modseq), lt: prefixEnd(keys.changedPrefix(fid)), limit: limit + 1 }))) {
      if (++entries > limit) return undefined;
      uids.add(uidOfMetaKey(key));
    }
    return uids;
  }

  async putStructures(fid: string, structures: readonly { uid: Uid; structure: MessageStructure }[]): Promise<void> {
    await this.batch(structures.map(({ uid, structure }) => ({ type: 'put', key: keys.structure(fid, uid), value: encodeStructure(structure) })));
  }

  /** Sort and thread keys of messages (sync/sort/message-keys.ts), encoded there. */
  async putMessageKeys(fid: string, entries: readonly { uid: Uid; value: string }[]): Promise<void> {
    await this.batch(entries.map(({ uid, value }) => ({ type: 'put', key: keys.messageKeys(fid, uid), value: Buffer.from(value) })));
  }

  async getMessageKeys(fid: string, uids: readonly Uid[]): Promise<(string | undefined)[]> {
    const values = await this.db.getMany(uids.map((uid) => keys.messageKeys(fid, uid)));
    return values.map((value) => value?.toString());
  }

  /**
   * Messages gone upstream: their metadata, structures and sections go in one write with the
   * folder's new record and the note that they went at `modseq` (QRESYNC's VANISHED), then (once
   * nothing refers to them) their chunks. `uids` ascending.
   */
  async expunge(fid: string, uids: readonly Uid[], modseq: number, folder: FolderChange): Promise<void> {
    const ops: BatchOp[] = [];
    if (uids.length) ops.push({ type: 'put', key: keys.vanished(fid, modseq, uids[0] as Uid), value: toSequenceSet(uids) });
    for (const meta of await this.readMetas(fid, uids)) if (meta) ops.push({ type: 'del', key: keys.changed(fid, Number(meta.modseq), meta.uid) });
    const sections: string[] = [];
    for (const uid of uids) {
      ops.push({ type: 'del', key: keys.meta(fid, uid) }, { type: 'del', key: keys.structure(fid, uid) }, { type: 'del', key: keys.messageKeys(fid, uid) });
      const prefix = keys.sectionsOf(fid, uid);
      for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) sections.push(key);
    }
    ops.push(this.folderPutOp(folder.acct, folder.path, folder.record));
    await this.contents.release(sections, ops);
  }

  /** The UIDs expunged above a modseq, as ranges in the order they went (RFC 7162 VANISHED (EARLIER)). */
  async vanishedSince(fid: string, modseq: number): Promise<UidRange[]> {
    const ranges: UidRange[] = [];
    const range = { gte: keys.vanishedAbove(fid, modseq), lt: prefixEnd(keys.vanishedPrefix(fid)), valueEncoding: 'utf8' };
    for await (const [, value] of readRange(this.db.iterator(range as never))) ranges.push(...parseUidRanges(String(value)));
    return ranges;
  }

  /**
   * Messages MOVEd upstream: their cached sections and structures go with them to the other
   * folder generation and their new UIDs, in one write; the chunks stay where they are.
   */
  async moveMessages(from: string, to: string, uids: ReadonlyMap<Uid, Uid>): Promise<void> {
    const ops: BatchOp[] = [];
    const moves: { from: string; to: string }[] = [];
    for (const [fromUid, toUid] of uids) {
      const prefix = keys.sectionsOf(from, fromUid);
      for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) moves.push({ from: key, to: keys.sectionsOf(to, toUid) + key.slice(prefix.length) });
      const structure = await this.db.get(keys.structure(from, fromUid));
      if (structure) ops.push({ type: 'put', key: keys.structure(to, toUid), value: structure });
    }
    await this.contents.move(moves, ops);
  }

  // bodies known by Gmail's X-GM-MSGID -------------------------------------------------------

  /** The contents these Gmail messages were stored as, by X-GM-MSGID (undefined: none known). */
  async contentsOfMessageIds(acct: AccountId, msgids: readonly string[]): Promise<(string | undefined)[]> {
    const values = await this.db.getMany(msgids.map((msgid) => keys.messageId(acct, msgid)));
    return values.map((value) => value?.toString());
  }

  /** Remembers what these Gmail messages' bodies were stored as (records of whole bodies, with their digest). */
  async noteMessageIds(acct: AccountId, entries: readonly { msgid: string; record: SectionRecord }[]): Promise<void> {
    const ops: BatchOp[] = [];
    for (const { msgid, record } of entries) {
      const id = contentIdOf(record);
      if (id) ops.push({ type: 'put', key: keys.messageId(acct, msgid), value: id });
    }
    await this.batch(ops);
  }

  /**
   * A message's whole body as a content already stored (the same message under another label):
   * a reference to it, with its header block kept whole as for a body stored from upstream.
   * Undefined when the content is gone.
   */
  async linkBody(fid: string, uid: Uid, id: string): Promise<SectionRecord | undefined> {
    const content = await this.getContent(id);
    if (!content) return undefined;
    const first = content.chunks[0];
    const head = first && content.headerLength <= SECTION_INLINE_MAX ? (await this.bodies.getChunks([first.start]))[0] : undefined;
    return this.contents.linkBody(keys.section(fid, uid, FULL_BODY), id, (record) => (head ? headerBlockOps(fid, uid, record, head) : []));
  }

  private async getContent(id: string): Promise<ContentRecord | undefined> {
    const value = await this.db.get(keys.content(id));
    return value && decodeContent(value);
  }

  /** Producers of bulk data wait here while much is queued for the bodies database. */
  writeSpace(): Promise<void> {
    return this.bodies.space();
  }

  /** All UIDs cached for a folder generation, ascending. */
  async loadUids(fid: string): Promise<Uid[]> {
    const prefix = keys.metaPrefix(fid);
    const uids: Uid[] = [];
    for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) uids.push(uidOfMetaKey(key));
    return uids;
  }

  /**
   * Metadata of these messages (undefined: not cached). With `readAhead` (a client fetching
   * message by message), a miss also reads the records that follow for its next commands.
   */
  async getMetas(fid: string, uids: readonly Uid[], options: { readAhead?: boolean } = {}): Promise<(MessageMeta | undefined)[]> {
    if (!options.readAhead || uids.length === 0) return this.readMetas(fid, uids);
    const cached = this.metaReadAhead.lookup(fid, uids);
    if (cached) return cached;
    const generation = this.metaReadAhead.generation(fid);
    const from = Math.min(...uids);
    const metas: MessageMeta[] = [];
    // the messages asked for and as many again beyond them: a batch is covered even where the
    // folder holds records this session does not see (messages it has not been told about yet)
    const limit = META_READ_AHEAD + uids.length;
    const range = { gte: keys.meta(fid, from), lt: prefixEnd(keys.metaPrefix(fid)) };
    const entries = this.db.iterator({ ...range, limit, valueEncoding: 'utf8', highWaterMarkBytes: 256 * 1024 } as never);
    for (const [key, value] of (await entries.all()) as unknown as [string, string][]) metas.push(decodeMeta(uidOfMetaKey(key), value));
    const last = metas[metas.length - 1];
    // fewer records than asked for: the window reaches the end of the folder
    const through = metas.length < limit || !last ? Number.MAX_SAFE_INTEGER : last.uid;
    this.metaReadAhead.store(fid, generation, from, through, new Map(metas.map((meta) => [meta.uid, meta])));
    return this.metaReadAhead.lookup(fid, uids) ?? this.readMetas(fid, uids);
  }

  /**
   * At most METADATA_SCAN_BATCH records per LevelDB read: one read of 5,000 left about 50 MB more
   * RssAnon after a few flag scans of a 100,000-message folder (the read's native memory, kept in
   * the allocator's heap).
   */
  private async readMetas(fid: string, uids: readonly Uid[]): Promise<(MessageMeta | undefined)[]> {
    if (uids.length > METADATA_SCAN_BATCH) {
      const metas: (MessageMeta | undefined)[] = [];
      for (let i = 0; i < uids.length; i += METADATA_SCAN_BATCH) metas.push(...(await this.readMetas(fid, uids.slice(i, i + METADATA_SCAN_BATCH))));
      return metas;
    }
    const values = await this.db.getMany(
      uids.map((uid) => keys.meta(fid, uid)),
      JSON_OPTS as never,
    );
    return values.map((value, i) => (value === undefined ? undefined : decodeMeta(uids[i] as Uid, value as unknown as string)));
  }

  async getStructures(fid: string, uids: readonly Uid[]): Promise<(MessageStructure | undefined)[]> {
    const values = paced(await this.db.getMany(uids.map((uid) => keys.structure(fid, uid))));
    return values.map((value) => (value === undefined ? undefined : decodeStructure(value)));
  }

  /** UIDs that have a structure record (ENVELOPE and BODYSTRUCTURE, stored together), ascending, from the keys as they come. */
  async *structureUids(fid: string): AsyncGenerator<Uid> {
    const prefix = keys.structurePrefix(fid);
    for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) yield uidOfMetaKey(key);
  }

  // sections (bodies) ------------------------------------------------------------------------

  /** UIDs that have a given section cached, ascending, from the keys alone (no values read). */
  async *sectionUids(fid: string, section: string): AsyncGenerator<Uid> {
    const prefix = keys.sectionPrefix(fid);
    const suffix = `!${sectionKeyPart(section)}`;
    for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) {
      if (key.endsWith(suffix)) yield parseSectionKey(prefix, key).uid;
    }
  }

  /** UIDs that have a given section cached (keys only, no values read). */
  async loadSectionUids(fid: string, section: string): Promise<Set<Uid>> {
    const uids = new Set<Uid>();
    for await (const uid of this.sectionUids(fid, section)) uids.add(uid);
    return uids;
  }

  /**
   * Section records (undefined: not cached). With `readAhead` (a client fetching message by
   * message), a FETCH of a few messages also reads the records of the messages that follow.
   */
  async getSections(fid: string, wanted: readonly { uid: Uid; section: string }[], options: { readAhead?: boolean } = {}): Promise<(SectionRecord | undefined)[]> {
    if (options.readAhead && wanted.length > 0 && new Set(wanted.map((w) => w.uid)).size <= SECTION_READ_AHEAD_ASKED) {
      const found = await this.sectionsAhead(fid, wanted.map((w) => w.uid));
      if (found) return wanted.map((w, i) => found[i]?.get(sectionKeyPart(w.section)));
    }
    const values = paced(await this.db.getMany(wanted.map((w) => keys.section(fid, w.uid, w.section))));
    return values.map((value) => (value === undefined ? undefined : decodeSection(value)));
  }

  /** Every section record of these messages from a read-ahead window (read now if need be), per message; undefined if they do not fit one. */
  private async sectionsAhead(fid: string, uids: readonly Uid[]): Promise<(Map<string, SectionRecord> | undefined)[] | undefined> {
    const inOrder = this.sectionReadAhead.inOrder(fid, uids);
    const cached = this.sectionReadAhead.lookup(fid, uids);
    if (cached || !inOrder) return cached;
    const generation = this.sectionReadAhead.generation(fid);
    const from = Math.min(...uids);
    const through = Math.max(...uids, from + SECTION_READ_AHEAD - 1);
    const prefix = keys.sectionPrefix(fid);
    const limit = SECTION_READ_AHEAD_RECORDS;
    const entries = this.db.iterator({ gte: keys.sectionsOf(fid, from), lt: keys.sectionsOf(fid, through + 1), limit, highWaterMarkBytes: 256 * 1024 });
    const records = new Map<Uid, Map<string, SectionRecord>>();
    const read = await entries.all();
    paced(read.map(([, value]) => value));
    let last = from;
    for (const [key, value] of read) {
      const { uid, part } = parseSectionKey(prefix, key);
      last = uid;
      const sections = records.get(uid) ?? new Map<string, SectionRecord>();
      records.set(uid, sections);
      sections.set(part, decodeSection(value));
    }
    // cut short by the limit: the last message read may have more records than were read
    const end = read.length >= limit ? last - 1 : through;
    this.sectionReadAhead.store(fid, generation, from, end, records);
    return this.sectionReadAhead.lookup(fid, uids);
  }

  /** See BodyStore.beginRead: chunks of sections read from here on stay until the returned function is called. */
  beginRead(): () => void {
    return this.bodies.beginRead();
  }

  openSection(record: SectionRecord, start: number, end: number): Promise<SectionContent> {
    return openSection(this.bodies, record, start, end);
  }

  /** See openSectionNow: the bytes when they can be had without waiting, else undefined. */
  openSectionNow(record: SectionRecord, start: number, end: number): Buffer | undefined {
    return openSectionNow(this.bodies, record, start, end);
  }

  /** A whole section one chunk at a time, for a pass that keeps nothing; see scanSection. */
  scanSection(record: SectionRecord): AsyncGenerator<Buffer> {
    return scanSection(this.bodies, record);
  }

  /** Stores a section held in memory; see storeSection. */
  storeSection(at: GenerationKey, uid: Uid, section: string, bytes: Buffer, headerLength: number) {
    return storeSection(this.sectionTarget(at, uid, section), bytes, headerLength);
  }

  /** `digest`: a whole body's SHA-256, when the caller computed it already (see SectionWriter). */
  sectionWriter(at: GenerationKey, uid: Uid, section: string, headerRule: HeaderRule, digest?: Buffer): SectionWriter {
    return new SectionWriter(this.sectionTarget(at, uid, section), headerRule, digest);
  }

  // internals --------------------------------------------------------------------------------

  private folderPutOp(acct: AccountId, path: FolderPath, record: FolderRecord): BatchOp {
    return { type: 'put', key: keys.folder(acct, path), value: JSON.stringify(record) };
  }

  /** A message's record and its entry in the modseq index, which replaces the entry of its modseq before. */
  private metaPutOps(fid: string, { meta, previousModseq }: MetaWrite): BatchOp[] {
    const ops: BatchOp[] = [
      { type: 'put', key: keys.meta(fid, meta.uid), value: encodeMeta(meta) },
      { type: 'put', key: keys.changed(fid, Number(meta.modseq), meta.uid), value: '' },
    ];
    if (previousModseq !== undefined && previousModseq !== meta.modseq) ops.push({ type: 'del', key: keys.changed(fid, Number(previousModseq), meta.uid) });
    return ops;
  }

  /** Applies metadata operations atomically, in order with every other metadata write. */
  private batch(ops: BatchOp[]): Promise<void> {
    return this.writes.write(ops);
  }

  private sectionTarget(at: GenerationKey, uid: Uid, section: string): SectionTarget {
    return { bodies: this.bodies, meta: this.writes, contents: this.contents, acct: at.acct, fid: at.fid, uid, section };
  }

  private async getJson<T>(key: string): Promise<T | undefined> {
    const value = (await this.db.get(key, JSON_OPTS as never)) as unknown as string | undefined;
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value) as T;
    } catch (err) {
      throw new ProxyError('CACHE_FAILURE', `unreadable cache record ${key}`, { cause: err, context: { key } });
    }
  }

  /** Deletes a dropped folder generation in the background; a restart resumes it. */
  private collectGarbage(fid: string): void {
    this.metaReadAhead.forget(fid);
    this.sectionReadAhead.forget(fid);
    if (this.garbageRunning.has(fid) || this.closed) return;
    this.garbageRunning.add(fid);
    const work = async () => {
      // section records go in batches, each with the references it drops: a restart resumes
      // with those left. Any written into the generation later, by a fetch that began before it
      // was dropped, make it a stray generation, dropped again at the next start
      const sections = keys.sectionPrefix(fid);
      for (let after = sections; ; ) {
        if (this.closed) return;
        const batch = await this.db.keys({ gt: after, lt: prefixEnd(sections), limit: GARBAGE_BATCH }).all();
        if (batch.length === 0) break;
        await this.contents.release(batch);
        after = batch[batch.length - 1] as string;
      }
      const prefix = keys.folderData(fid);
      await this.db.clear({ gte: prefix, lt: sections });
      await this.db.clear({ gte: prefixEnd(sections), lt: prefixEnd(prefix) });
      await this.db.del(keys.garbage(fid));
      await this.bodies.compact();
    };
    work()
      .catch((err: unknown) => {
        if (!this.closed) this.log.warn({ err, fid }, 'deleting a dropped folder generation failed; retried at next start');
      })
      .finally(() => this.garbageRunning.delete(fid));
  }

  private verifyTarget(): VerifyTarget {
    return {
      db: this.db,
      bodies: this.bodies,
      owners: async (snapshot) => {
        const owners = new Map<string, GenerationOwner>();
        for (const { id, record: account } of await this.listAccounts(snapshot)) {
          for (const { path, record } of await this.listFolders(id, snapshot)) owners.set(record.fid, { user: account.user, folder: path });
        }
        const garbage = keys.garbagePrefix();
        for await (const key of readRange(this.db.keys({ gte: garbage, lt: prefixEnd(garbage), snapshot }))) owners.set(key.slice(garbage.length), 'dropped');
        return owners;
      },
      dropGeneration: async (fid) => {
        await this.batch([{ type: 'put', key: keys.garbage(fid), value: '' }]);
        this.collectGarbage(fid);
      },
      batch: (ops) => this.batch(ops),
      contents: this.contents,
    };
  }

  /**
   * Copies dropped before a stop whose space was not compacted away yet (keys.ts `r!`): it is now,
   * after the sweep, which deletes their chunks if a crash came before that.
   */
  private resumeReclaim(): void {
    const prefix = keys.reclaimPrefix();
    (async () => {
      const ranges: ChunkRange[] = [];
      for await (const [key, value] of readRange(this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) }))) {
        ranges.push({ start: parseInt(key.slice(prefix.length), 16), count: Number(value.toString()) });
      }
      this.bodies.reclaim(ranges);
    })().catch((err: unknown) => this.log.warn({ err }, 'cannot list dropped copies still to compact'));
  }

  /** Whole bodies cached before bodies were stored by content are stored so in the background (content-migration.ts). */
  private migrateBodies(): void {
    migrateBodies({ db: this.db, bodies: this.bodies, contents: this.contents, closed: () => this.closed, log: this.log }).catch((err: unknown) => {
      if (!this.closed) this.log.warn({ err }, 'storing earlier cached bodies by content failed; resumed at the next start');
    });
  }

  /** Chunks a crash left without a record take disk space only: they are dropped in the background at a start. Whether it went through. */
  private sweepOrphans(): Promise<boolean> {
    return sweepOrphans(this.verifyTarget()).then(
      ({ orphanChunks, wrongRefCounts }) => {
        if (orphanChunks > 0) this.log.info({ chunks: orphanChunks }, 'dropped cached data an earlier crash left unreferenced');
        if (wrongRefCounts > 0) this.log.warn({ contents: wrongRefCounts }, 'corrected the reference counts of stored bodies');
        return true;
      },
      (err: unknown) => {
        if (!this.closed) this.log.warn({ err }, 'looking for unreferenced cached data failed');
        return false;
      },
    );
  }

  private resumeGarbageCollection(): void {
    const prefix = keys.garbagePrefix();
    (async () => {
      for await (const key of readRange(this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }))) this.collectGarbage(key.slice(prefix.length));
    })().catch((err: unknown) => this.log.warn({ err }, 'cannot list dropped folder generations'));
  }
}
