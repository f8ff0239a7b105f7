/**
 * SEARCH and SORT RETURN (UPDATE) of RFC 5267 (CONTEXT=SEARCH, CONTEXT=SORT): results a session
 * keeps up to date. Each change to the selected mailbox that alters a result is reported as
 * Dovecot reports it for SEARCH: one `* ESEARCH (TAG "t") [UID] REMOVEFROM (...) ADDTO (...)` line.
 * A SEARCH result is in mailbox order, so its position is 0 (RFC 5267 4.3); a SORT result names
 * each message with its position, the pairs taking effect one after the other. A message expunged
 * is taken out before its EXPUNGE is sent, while its sequence number still names it; other
 * changes are found by searching again once a command has made them, before its tagged answer.
 */
import { sequenceNumbers, toSequenceSet, uidsAtSequence } from '../model/uid-set.js';
import type { SortStep } from '../sync/sort/sort-program.js';
import type { SearchReturn } from './esearch.js';
import type { ImapSession, ImapToken } from './imap-core.js';
import { stateOf } from './session-state.js';

/** A result kept up to date: its criteria as the client wrote them, its sort program for a SORT, its UIDs (ascending, or in sort order). */
export interface ContextSearch {
  uid: boolean;
  criteria: ImapToken[];
  steps?: SortStep[];
  result: number[];
}

/** Where each message of `before` that is not `kept` stands when its turn comes: the earlier ones already taken out. */
function removalPositions(before: readonly number[], kept: ReadonlySet<number>): number[] {
  const positions: number[] = [];
  let stays = 0;
  for (const uid of before) {
    if (kept.has(uid)) stays++;
    else positions.push(stays + 1);
  }
  return positions;
}

/** Where each message of `after` that was not `had` goes: its place in `after` (the earlier ones already put in). */
function additionPositions(after: readonly number[], had: ReadonlySet<number>): number[] {
  return after.flatMap((uid, i) => (had.has(uid) ? [] : [i + 1]));
}

/**
 * The ESEARCH update line of one result that went from `before` to `after` (UIDs in its order),
 * numbers as it returns them (sequence numbers now, or UIDs); undefined when nothing changed.
 */
function updateLine(tag: string, search: ContextSearch, uidList: readonly number[], before: readonly number[], after: readonly number[]): string | undefined {
  const kept = new Set(after);
  const had = new Set(before);
  const removed = before.filter((uid) => !kept.has(uid));
  const added = after.filter((uid) => !had.has(uid));
  if (removed.length === 0 && added.length === 0) return undefined;
  const numbers = (uids: readonly number[]) => (search.uid ? [...uids] : sequenceNumbers(uidList, uids));
  // a SEARCH's messages as one set at position 0; a SORT's one by one at their positions
  const pairs = (uids: readonly number[], positions: readonly number[]) =>
    search.steps ? numbers(uids).map((n, i) => `${positions[i]} ${n}`).join(' ') : `0 ${toSequenceSet(numbers(uids).sort((x, y) => x - y))}`;
  let line = `* ESEARCH (TAG "${tag}")${search.uid ? ' UID' : ''}`;
  if (removed.length) line += ` REMOVEFROM (${pairs(removed, removalPositions(before, kept))})`;
  if (added.length) line += ` ADDTO (${pairs(added, additionPositions(after, had))})`;
  return line;
}

/** A SEARCH or SORT RETURN (UPDATE) just answered: its result (the numbers it found, in its order) is kept, and kept up to date. */
export function keepUpdated(session: ImapSession, request: SearchReturn, numbers: readonly number[]): void {
  const uidList = (session.selected || undefined)?.uidList;
  if (!request.options.has('UPDATE') || !request.criteria || !uidList) return;
  const uids = request.uid ? numbers : uidsAtSequence(uidList, numbers);
  stateOf(session).contextSearches.set(request.tag, { uid: request.uid, criteria: request.criteria, ...(request.steps ? { steps: request.steps } : {}), result: [...uids] });
}

/** Lines to send before the EXPUNGE of `uids`: the searches that held them lose them. */
export function removedBeforeExpunge(session: ImapSession, uids: readonly number[]): string[] {
  const state = stateOf(session);
  // the result SEARCH RETURN (SAVE) kept loses them too (RFC 5182 2.1)
  if (state.savedResult.length) state.savedResult = state.savedResult.filter((uid) => !uids.includes(uid));
  const searches = state.contextSearches;
  const uidList = (session.selected || undefined)?.uidList;
  if (searches.size === 0 || !uidList) return [];
  const lines: string[] = [];
  for (const [tag, search] of searches) {
    const after = search.result.filter((uid) => !uids.includes(uid));
    const line = updateLine(tag, search, uidList, search.result, after);
    search.result = after;
    if (line) lines.push(line);
  }
  return lines;
}

/** After a command's changes: each result found again (`evaluate`: UIDs in its order), and what it gained or lost reported. */
export async function refreshContextSearches(session: ImapSession, evaluate: (search: ContextSearch) => Promise<number[]>): Promise<string[]> {
  const searches = stateOf(session).contextSearches;
  const lines: string[] = [];
  for (const [tag, search] of searches) {
    const found = await evaluate(search);
    const uidList = (session.selected || undefined)?.uidList ?? [];
    const line = updateLine(tag, search, uidList, search.result, found);
    search.result = found;
    if (line) lines.push(line);
  }
  return lines;
}

/**
 * CANCELUPDATE "tag" ... (RFC 5267 4.2), which imap-core does not know: the tagged answer to a
 * command line, undefined for any other command.
 */
export function cancelUpdate(session: ImapSession | undefined, line: string, selected: boolean): string | undefined {
  const command = /^(\S+) CANCELUPDATE(?: (.*))?$/i.exec(line);
  if (!command) return undefined;
  const [, tag, rest = ''] = command;
  const tags = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
  if (!session || !selected) return `${tag} BAD CANCELUPDATE needs a selected mailbox`;
  if (tags.length === 0) return `${tag} BAD CANCELUPDATE needs the tags of searches`;
  const searches = stateOf(session).contextSearches;
  for (const name of tags) searches.delete(name);
  return `${tag} OK CANCELUPDATE completed`;
}
