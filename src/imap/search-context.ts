/**
 * SEARCH RETURN (UPDATE) of RFC 5267 (CONTEXT=SEARCH): searches a session keeps up to date. Each
 * change to the selected mailbox that alters a result is reported as Dovecot reports it: one
 * `* ESEARCH (TAG "t") [UID] REMOVEFROM (0 set) ADDTO (0 set)` line (position 0: the result is
 * in mailbox order, RFC 5267 4.3). A message expunged is taken out before its EXPUNGE is sent,
 * while its sequence number still names it; other changes are found by searching again once a
 * command has made them, before its tagged answer.
 */
import { sequenceNumbers, toSequenceSet, uidsAtSequence } from '../model/uid-set.js';
import type { SearchReturn } from './esearch.js';
import type { ImapSession, ImapToken } from './imap-core.js';
import { stateOf } from './session-state.js';

/** A search kept up to date: its criteria as the client wrote them, and its result (UIDs). */
export interface ContextSearch {
  uid: boolean;
  criteria: ImapToken[];
  result: Set<number>;
}

/** The ESEARCH update line of one search, numbers as it returns them (sequence numbers now, or UIDs). */
function updateLine(tag: string, search: ContextSearch, uidList: readonly number[], removed: readonly number[], added: readonly number[]): string | undefined {
  if (removed.length === 0 && added.length === 0) return undefined;
  const numbers = (uids: readonly number[]) =>
    toSequenceSet((search.uid ? [...uids] : sequenceNumbers(uidList, uids)).sort((a, b) => a - b));
  let line = `* ESEARCH (TAG "${tag}")${search.uid ? ' UID' : ''}`;
  if (removed.length) line += ` REMOVEFROM (0 ${numbers(removed)})`;
  if (added.length) line += ` ADDTO (0 ${numbers(added)})`;
  return line;
}

/** A SEARCH RETURN (UPDATE) just answered: its result (the numbers it found) is kept, and kept up to date. */
export function keepUpdated(session: ImapSession, request: SearchReturn, numbers: readonly number[]): void {
  const uidList = (session.selected || undefined)?.uidList;
  if (!request.options.has('UPDATE') || !request.criteria || !uidList) return;
  const uids = request.uid ? numbers : uidsAtSequence(uidList, numbers);
  stateOf(session).contextSearches.set(request.tag, { uid: request.uid, criteria: request.criteria, result: new Set(uids) });
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
    const removed = uids.filter((uid) => search.result.delete(uid));
    const line = updateLine(tag, search, uidList, removed, []);
    if (line) lines.push(line);
  }
  return lines;
}

/** After a command's changes: each search run again (`evaluate`), and what it gained or lost reported. */
export async function refreshContextSearches(session: ImapSession, evaluate: (criteria: ImapToken[]) => Promise<number[]>): Promise<string[]> {
  const searches = stateOf(session).contextSearches;
  const lines: string[] = [];
  for (const [tag, search] of searches) {
    const found = new Set(await evaluate(search.criteria));
    const uidList = (session.selected || undefined)?.uidList ?? [];
    const removed = [...search.result].filter((uid) => !found.has(uid));
    const added = [...found].filter((uid) => !search.result.has(uid));
    search.result = found;
    const line = updateLine(tag, search, uidList, removed, added);
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
