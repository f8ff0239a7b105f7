import type { Logger } from '../../log.js';
import { indexOfUid, uidsAtSequence } from '../../model/uid-set.js';
import type { ImapSession, ImapToken, SearchOptions } from '../imap-core.js';
import { getMessageRange } from '../message-range.js';
import { handle, overrideAnswer } from '../responses.js';
import { compileSearch, takeSearchArguments } from '../search-query.js';
import { folderOf } from '../mailbox-id.js';
import { reportedMessages } from '../esearch.js';
import { stateOf } from '../session-state.js';
import { announceCondstore } from '../untagged.js';
import type { Folder } from '../../sync/folder.js';
import type { SortStep } from '../../sync/sort/sort-program.js';
import { hasAtom, type Token } from '../../upstream/imap-tokens.js';
import { SEARCH_BATCH } from '../../model/limits.js';
import { sortedNumbers, sortLine } from './on-sort.js';
import { threadLine } from './on-thread.js';

/**
 * SEARCH / UID SEARCH: answered by upstream, limited to the messages the client knows; while
 * upstream is unreachable, over the cache.
 */
export function makeOnSearch(deps: { log: Logger }) {
  return handle(deps.log, 'SEARCH', async (mailbox: string, _options: SearchOptions, session: ImapSession) => {
    const selected = session.selected;
    if (!selected) return { uidList: [] };
    const query = compileSearch(takeSearchArguments(session), (set) => getMessageRange(selected.uidList, set, false));
    const folder = folderOf(session, mailbox);
    announceCondstore(session, folder.highestModseq());
    const state = stateOf(session);
    const sort = state.sortRequest;
    state.sortRequest = undefined;
    // SORT and THREAD over every message need no search (their usual form)
    const found = sort && matchesAll(query) ? [...selected.uidList] : await searchFolder(folder, query, selected.uidList);
    const esearch = state.searchReturn;
    let reported = found;
    if (sort?.kind === 'sort') {
      const numbers = await sortedNumbers(folder, selected.uidList, found, sort);
      // with RETURN (ESORT) the ESEARCH line is composed from them as a SEARCH's is (core-patches.ts, IMAPConnection.send)
      state.sortAnswer = esearch ? numbers : sortLine(numbers);
      if (esearch) {
        reported = sort.uid ? numbers : uidsAtSequence(selected.uidList, numbers);
        esearch.steps = sort.steps;
      }
    }
    if (sort?.kind === 'thread') state.sortAnswer = await threadLine(folder, selected.uidList, found, sort);
    // as Dovecot words it, UID or not
    if (sort) overrideAnswer(session, { response: 'OK', message: sort.kind === 'sort' ? 'Sort completed' : 'Thread completed' });
    // the SORT or THREAD line replaces imap-core's `* SEARCH` whole: it need not compose one of every message
    if (typeof state.sortAnswer === 'string') return { uidList: [] };
    if (!hasAtom(query, 'MODSEQ')) return { uidList: found };
    // a MODSEQ criterion: the answer carries the highest mod-sequence of what it reports (RFC 7162 3.1.5)
    const highest = await highestModseq(folder, esearch ? reportedMessages(reported, esearch.options) : found);
    if (esearch && highest) esearch.modseq = highest;
    return { uidList: found, ...(highest ? { highestModseq: highest } : {}) };
  });
}

/** The criteria are ALL alone (after a CHARSET). */
function matchesAll(query: readonly Token[]): boolean {
  const criteria = hasAtom(query.slice(0, 1), 'CHARSET') ? query.slice(2) : query;
  return criteria.length === 1 && hasAtom(criteria, 'ALL');
}

/** The UIDs of the messages the session knows that match, ascending. */
async function searchFolder(folder: Folder, query: Token[], uidList: readonly number[]): Promise<number[]> {
  return (await folder.search(query, uidList as number[])).filter((uid) => indexOfUid(uidList, uid) >= 0).sort((a, b) => a - b);
}

/** A result kept UPDATEd (RFC 5267), found again over the selected mailbox as it is now: UIDs ascending, or in its sort order. */
export async function searchSelected(session: ImapSession, search: { criteria: ImapToken[]; steps?: SortStep[] }): Promise<number[]> {
  const selected = session.selected;
  if (!selected) return [];
  const query = compileSearch(search.criteria, (set) => getMessageRange(selected.uidList, set, false));
  const folder = folderOf(session, selected.mailbox);
  const found = await searchFolder(folder, query, selected.uidList);
  return search.steps ? folder.sort(found, search.steps) : found;
}

/** The highest mod-sequence among these messages, from the cache, read in batches. */
async function highestModseq(folder: Folder, uids: readonly number[]): Promise<string | undefined> {
  let highest = 0n;
  for (let i = 0; i < uids.length; i += SEARCH_BATCH) {
    for (const meta of await folder.metas(uids.slice(i, i + SEARCH_BATCH))) if (meta && BigInt(meta.modseq) > highest) highest = BigInt(meta.modseq);
  }
  return highest > 0n ? String(highest) : undefined;
}
