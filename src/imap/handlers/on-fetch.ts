import type { CacheStore } from '../../cache/cache-store.js';
import type { Logger } from '../../log.js';
import { FETCH_RESPONSE_BATCH } from '../../model/limits.js';
import type { MessageMeta, MessageStructure } from '../../model/types.js';
import { indexOfUid, sortedAmong } from '../../model/uid-set.js';
import type { FetchData, MessageSections } from '../../sync/fetch-data.js';
import type { Folder } from '../../sync/folder.js';
import { planFetch, type FetchPlan, type PlannedItem } from '../fetch/fetch-plan.js';
import { literalNow, NEEDS_READ, openLiteral, wantsLiteral8 } from '../fetch/literal-content.js';
import { ResponseWriter, type LiteralBytes, type ResponseSink } from '../fetch/response-writer.js';
import type { FetchOptions, ImapSession } from '../imap-core.js';
import { handle, overrideAnswer } from '../responses.js';
import { folderOf } from '../mailbox-id.js';
import { stateOf } from '../session-state.js';
import { announceCondstore, keywordAnnouncement, sessionFlags } from '../untagged.js';
import { vanishedEarlier } from './on-resync.js';

const SEEN = '\\Seen';

/**
 * FETCH and UID FETCH, answered from the cache. Per batch of messages: their metadata in one
 * LevelDB read, whatever is not cached from upstream in one command per kind (the folder's
 * fetchData), then the responses, bodies streamed from LevelDB chunks.
 */
export function makeOnFetch(deps: { log: Logger }) {
  return handle(deps.log, 'FETCH', async (mailbox: string, options: FetchOptions, session: ImapSession) => {
    const folder = folderOf(session, mailbox);
    // the background sync waits while a client fetches
    const ended = folder.account.clients.begin();
    try {
      return await fetchMessages(folder, options, session);
    } finally {
      ended();
    }
  });
}

async function fetchMessages(folder: Folder, options: FetchOptions, session: ImapSession): Promise<boolean | string> {
  await folder.ready();
  const selected = session.selected;
  if (!selected) return 'NONEXISTENT';
  announceCondstore(session, folder.highestModseq());
  const plan = planFetch(options.query);
  const writer = new ResponseWriter(session);
  const changedSince = options.changedSince ? BigInt(options.changedSince) : 0n;
  // imap-core does not count RFC822.TEXT (RFC 3501 6.4.5) and BINARY[] (RFC 3516 4.2) among the items that set \Seen
  const marksSeen = options.markAsSeen || (!selected.readOnly && options.query.some((q) => q.item === 'rfc822.text' || q.item === 'binary'));
  let vanished = false;
  // CHANGEDSINCE: the changed messages, where the folder knows them without reading every record
  const changed = changedSince ? await folder.changedSince(Number(changedSince)) : undefined;
  const messages = changed ? sortedAmong(options.messages, changed) : options.messages;
  // UID FETCH ... (CHANGEDSINCE m VANISHED): what of the UIDs it names went since m, first (RFC 7162 3.2.6)
  const state = stateOf(session);
  const vanishedWithin = state.fetchVanished;
  state.fetchVanished = undefined;
  const earlier = vanishedWithin && (await vanishedEarlier(folder, Number(changedSince), vanishedWithin));
  if (earlier) await writer.write([earlier]);

  /** One batch's metadata and cached sections, read while the batch before it is written. */
  const prepareBatch = async (uids: number[]): Promise<PreparedBatch> => {
    // read ahead in UID order for a client that fetches message by message, not for the changed messages among them
    let metas = (await folder.metas(uids, { readAhead: !changed })).filter((m): m is MessageMeta => !!m);
    const vanished = metas.length < uids.length;
    if (changedSince) metas = metas.filter((m) => BigInt(m.modseq) > changedSince);
    const seen = marksSeen ? await markSeen(folder, metas, session.id) : undefined;
    if (seen) metas = seen.metas;
    return { metas, vanished, seen, data: await folder.fetchData(metas, plan) };
  };

  const store = folder.account.store;
  /** Writes one prepared batch; whether some of its messages were gone. */
  const writeBatch = async ({ metas, vanished: gone, seen, data }: PreparedBatch): Promise<boolean> => {
    let vanished = gone;
    for (const meta of metas) {
      const seq = indexOfUid(selected.uidList, meta.uid) + 1;
      const sections = data.sections.get(meta.uid);
      if (seq === 0 || !sections) {
        vanished = true;
        continue;
      }
      // a FETCH that set \Seen shows the new flags, asked for or not (RFC 3501 6.4.5)
      const flags = plan.hasFlags || !!seen?.changed.has(meta.uid);
      if (flags) for (const line of keywordAnnouncement(session, meta.flags)) await writer.write([line]);
      const shownFlags = sessionFlags(session, meta.uid, meta.flags);
      const shown = shownFlags === meta.flags ? meta : { ...meta, flags: shownFlags };
      const literals = literalsNow(store, plan, sections) ?? (await readLiterals(store, plan, sections));
      const structure = data.structures.get(meta.uid);
      const withFlags = flags && !plan.hasFlags;
      render(writer.beginJoined(), plan, shown, seq, structure, sections, literals, withFlags);
      if (!writer.endJoined()) await writer.render((sink) => render(sink, plan, shown, seq, structure, sections, literals, withFlags));
    }
    return vanished;
  };

  /**
   * Batch i+1 is read from the cache while batch i is written to the client: at most two
   * batches in memory. Not where whole bodies or parts are wanted: those fetched upstream for a
   * batch are held until it is written, one batch at a time. Each batch holds its chunks (an
   * expunge by another session meanwhile leaves its bodies readable to the end) from before its
   * read until it is written.
   */
  const readsAhead = !plan.fullBody && plan.parts.length === 0 && plan.binaries.length === 0;
  const start = (i: number) => {
    const endRead = folder.account.store.beginRead();
    const prepared = prepareBatch(messages.slice(i, i + FETCH_RESPONSE_BATCH));
    prepared.catch(() => endRead());
    return { prepared, endRead };
  };
  let next: ReturnType<typeof start> | undefined = messages.length > 0 ? start(0) : undefined;
  try {
    for (let i = 0; next; i += FETCH_RESPONSE_BATCH) {
      const current = next;
      const batch = await current.prepared;
      const more = i + FETCH_RESPONSE_BATCH < messages.length;
      next = more && readsAhead ? start(i + FETCH_RESPONSE_BATCH) : undefined;
      try {
        vanished = (await writeBatch(batch)) || vanished;
      } finally {
        current.endRead();
      }
      if (more && !readsAhead) next = start(i + FETCH_RESPONSE_BATCH);
    }
  } finally {
    // a failed batch: the one read ahead is not written, but settled
    next?.prepared.then(next.endRead, () => undefined);
  }
  await writer.flush();
  // RFC 2180 4.1.2: what could not be sent was expunged upstream (Dovecot's words, which
  // clients and imaptest know)
  if (vanished) overrideAnswer(session, { response: 'NO', code: 'EXPUNGEISSUED', message: 'Some of the requested messages no longer exist' });
  return true;
}

interface PreparedBatch {
  metas: MessageMeta[];
  /** Some of the batch's messages had no metadata: expunged. */
  vanished: boolean;
  seen: { changed: Set<number> } | undefined;
  data: FetchData;
}

/** A non-PEEK body fetch on a read-write SELECT sets \Seen: upstream first. Returns the metas as they are now and which changed. */
async function markSeen(folder: Folder, metas: MessageMeta[], origin: string): Promise<{ metas: MessageMeta[]; changed: Set<number> }> {
  const unseen = metas.filter((m) => !m.flags.includes(SEEN)).map((m) => m.uid);
  if (unseen.length === 0) return { metas, changed: new Set() };
  const stored = await folder.storeFlags(unseen, '+FLAGS', [SEEN], { origin });
  const updates = new Map(stored.updates.map((u) => [u.uid, u]));
  const changed = new Set(unseen);
  return {
    metas: metas.map((m) => {
      const update = updates.get(m.uid);
      return update ? { ...m, flags: update.flags, modseq: update.modseq === '0' ? m.modseq : update.modseq } : m;
    }),
    changed,
  };
}

/** A message's literal items in the plan's order: their bytes, and which go as a literal8. */
interface Literals {
  bytes: LiteralBytes[];
  literal8?: boolean[];
}

const NO_BYTES = Buffer.alloc(0);

/** The literal items' bytes when none needs a read that waits (literalNow), as for most messages; else undefined. */
function literalsNow(store: CacheStore, plan: FetchPlan, sections: MessageSections): Literals | undefined {
  const bytes: LiteralBytes[] = [];
  for (const item of plan.items) {
    if (item.kind !== 'literal') continue;
    // BINARY: whether it goes as a literal8 may need a read
    if (item.source.kind === 'binary') return undefined;
    const now = literalNow(store, sections, item.source, item.partial);
    if (now === NEEDS_READ) return undefined;
    bytes.push(now ?? NO_BYTES);
  }
  return { bytes };
}

async function readLiterals(store: CacheStore, plan: FetchPlan, sections: MessageSections): Promise<Literals> {
  const bytes: LiteralBytes[] = [];
  const literal8: boolean[] = [];
  for (const item of plan.items) {
    if (item.kind !== 'literal') continue;
    bytes.push((await openLiteral(store, sections, item.source, item.partial)) ?? NO_BYTES);
    literal8.push(item.source.kind === 'binary' && (await wantsLiteral8(store, sections, item.source.section)));
  }
  return { bytes, literal8 };
}

/** One message's FETCH response, into a sink of the response writer. */
function render(
  sink: ResponseSink,
  plan: FetchPlan,
  meta: MessageMeta,
  seq: number,
  structure: MessageStructure | undefined,
  sections: MessageSections,
  literals: Literals,
  withFlags: boolean,
): void {
  sink.text('* ');
  sink.number(seq);
  sink.text(' FETCH (');
  let literal = 0;
  const items = plan.items;
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as PlannedItem;
    if (index > 0) sink.text(' ');
    switch (item.kind) {
      case 'binarySize': {
        const part = sections.parts.get(item.section);
        sink.text(item.name);
        sink.text(' ');
        sink.number(part ? part.end - part.start : 0);
        break;
      }
      case 'structure': {
        const bytes = structure?.[item.item];
        sink.text(item.name);
        sink.text(' ');
        if (bytes) sink.bytes(bytes);
        else sink.text('NIL');
        break;
      }
      case 'literal': {
        const content = literals.bytes[literal] as LiteralBytes;
        const literal8 = literals.literal8?.[literal] ?? false;
        literal++;
        sink.text(item.name);
        sink.text(literal8 ? ' ~{' : ' {');
        sink.number(content.length);
        sink.text('}\r\n');
        sink.bytes(content);
        break;
      }
      default:
        scalar(sink, item, meta);
    }
  }
  if (withFlags) {
    if (items.length > 0) sink.text(' ');
    flagList(sink, meta.flags);
  }
  sink.text(')');
}

function scalar(sink: ResponseSink, item: Exclude<PlannedItem, { kind: 'literal' | 'structure' | 'binarySize' }>, meta: MessageMeta): void {
  switch (item.kind) {
    case 'uid':
      sink.text('UID ');
      sink.number(meta.uid);
      return;
    case 'flags':
      flagList(sink, meta.flags);
      return;
    case 'size':
      sink.text('RFC822.SIZE ');
      sink.number(meta.size);
      return;
    case 'internaldate':
      sink.text('INTERNALDATE "');
      sink.text(meta.internalDate);
      sink.text('"');
      return;
    case 'modseq':
      sink.text('MODSEQ (');
      sink.text(meta.modseq);
      sink.text(')');
      return;
  }
}

function flagList(sink: ResponseSink, flags: readonly string[]): void {
  sink.text('FLAGS (');
  for (let i = 0; i < flags.length; i++) {
    if (i > 0) sink.text(' ');
    sink.text(flags[i] as string);
  }
  sink.text(')');
}
