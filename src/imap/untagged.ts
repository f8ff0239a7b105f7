import type { Uid } from '../model/types.js';
import { indexOfUid, toSequenceSet } from '../model/uid-set.js';
import type { ImapSession } from './imap-core.js';
import { removedBeforeExpunge } from './search-context.js';
import { ownUidList, stateOf } from './session-state.js';

/**
 * Untagged responses a write command owes its own session (other sessions hear of the change
 * through the notifier). Written before the command's tagged answer.
 */

/**
 * `* n EXPUNGE` for each UID the session knows, keeping its sequence numbers in step; with QRESYNC
 * one `* VANISHED set` for them all (RFC 7162 3.2.10).
 */
export function writeExpunges(session: ImapSession, uids: readonly Uid[]): void {
  const uidList = ownUidList(session);
  if (!uidList) return;
  const qresync = stateOf(session).qresync;
  const gone: Uid[] = [];
  for (const uid of [...uids].sort((a, b) => a - b)) {
    const index = indexOfUid(uidList, uid);
    if (index < 0) continue;
    for (const line of removedBeforeExpunge(session, [uid])) session.writeStream.write({ compiled: Buffer.from(line) });
    uidList.splice(index, 1);
    gone.push(uid);
    if (!qresync) session.writeStream.write({ compiled: Buffer.from(`* ${index + 1} EXPUNGE`) });
  }
  if (qresync && gone.length > 0) session.writeStream.write({ compiled: Buffer.from(`* VANISHED ${toSequenceSet(gone)}`) });
}

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** `* FLAGS` and `* OK [PERMANENTFLAGS]` for a mailbox with these keywords (any keyword may be created). */
export function flagsResponses(keywords: Iterable<string>): string[] {
  const flags = [...SYSTEM_FLAGS, ...keywords].join(' ');
  return [`* FLAGS (${flags})`, `* OK [PERMANENTFLAGS (${flags} \\*)] Flags permitted.`];
}

/**
 * The FLAGS responses to send before a FETCH that shows these flags, when one of them is a
 * keyword the session has not been told of (a client learns the mailbox's keywords from FLAGS);
 * none when nothing is new.
 */
export function keywordAnnouncement(session: ImapSession, flags: readonly string[]): readonly string[] {
  const known = stateOf(session).keywords;
  let fresh = false;
  for (const flag of flags) {
    if (flag.startsWith('\\') || known.has(flag)) continue;
    known.add(flag);
    fresh = true;
  }
  return fresh ? flagsResponses(known) : NO_LINES;
}

/** No response lines (shared: never written to). */
const NO_LINES: readonly string[] = [];

/** A message's flags as this session sees them: with \Recent where the message is recent in it. */
export function sessionFlags(session: ImapSession, uid: Uid, flags: string[]): string[] {
  return stateOf(session).recent.has(uid) ? ['\\Recent', ...flags] : flags;
}

/**
 * The lines that tell a session of one message's flags: FLAGS first where a keyword is new to it,
 * then `* n FETCH (UID u [FLAGS (...)] [MODSEQ (m)])`.
 */
export function flagFetchLines(session: ImapSession, seq: number, update: { uid: Uid; flags: string[]; modseq?: string }, withFlags = true): string[] {
  const items = [`UID ${update.uid}`];
  const lines = withFlags ? keywordAnnouncement(session, update.flags) : [];
  if (withFlags) items.push(`FLAGS (${sessionFlags(session, update.uid, update.flags).join(' ')})`);
  if (update.modseq !== undefined && update.modseq !== '0') items.push(`MODSEQ (${update.modseq})`);
  return [...lines, `* ${seq} FETCH (${items.join(' ')})`];
}

/** `* n FETCH (UID u FLAGS (...) [MODSEQ (m)])` for messages whose flags changed. */
export function writeFlagFetches(session: ImapSession, updates: readonly { uid: Uid; flags: string[]; modseq: string }[], withFlags: boolean): void {
  const selected = session.selected;
  if (!selected) return;
  const modseq = selected.condstoreEnabled;
  if (!withFlags && !modseq) return;
  for (const update of updates) {
    const index = indexOfUid(selected.uidList, update.uid);
    if (index < 0) continue;
    const shown = modseq ? update : { uid: update.uid, flags: update.flags };
    for (const line of flagFetchLines(session, index + 1, shown, withFlags)) session.writeStream.write({ compiled: Buffer.from(line) });
  }
}

/**
 * `* OK [HIGHESTMODSEQ n]` when the command running now is the one that enabled CONDSTORE in the
 * session (a FETCH of MODSEQ, a SEARCH by MODSEQ, a STORE with UNCHANGEDSINCE): RFC 7162 3.1
 * has the server say where the mailbox stands, as SELECT does for a session that enabled it first.
 */
export function announceCondstore(session: ImapSession, highestModseq: number): void {
  const state = stateOf(session);
  const selected = session.selected;
  if (state.condstoreBefore || !selected || !selected.condstoreEnabled) return;
  state.condstoreBefore = true;
  session.writeStream.write({ compiled: Buffer.from(`* OK [HIGHESTMODSEQ ${highestModseq || 1}] Highest`) });
}
