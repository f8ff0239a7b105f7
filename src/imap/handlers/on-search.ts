import type { Logger } from '../../log.js';
import { indexOfUid } from '../../model/uid-set.js';
import type { ImapSession, SearchOptions } from '../imap-core.js';
import { getMessageRange } from '../message-range.js';
import { handle } from '../responses.js';
import { compileSearch, takeSearchArguments } from '../search-query.js';
import { folderOf } from '../mailbox-id.js';
import { reportedMessages } from '../esearch.js';
import { stateOf } from '../session-state.js';
import { announceCondstore } from '../untagged.js';
import type { Folder } from '../../sync/folder.js';
import { hasAtom } from '../../upstream/imap-tokens.js';
import { SEARCH_BATCH } from '../../model/limits.js';

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
    announceCondstore(session, folder.modseqFloor());
    const found = (await folder.search(query, selected.uidList)).filter((uid) => indexOfUid(selected.uidList, uid) >= 0).sort((a, b) => a - b);
    if (!hasAtom(query, 'MODSEQ')) return { uidList: found };
    // a MODSEQ criterion: the answer carries the highest mod-sequence of what it reports (RFC 7162 3.1.5)
    const esearch = stateOf(session).searchReturn;
    const highest = await highestModseq(folder, esearch ? reportedMessages(found, esearch.options) : found);
    if (esearch && highest) esearch.modseq = highest;
    return { uidList: found, ...(highest ? { highestModseq: highest } : {}) };
  });
}

/** The highest mod-sequence among these messages, from the cache, read in batches. */
async function highestModseq(folder: Folder, uids: readonly number[]): Promise<string | undefined> {
  let highest = 0n;
  for (let i = 0; i < uids.length; i += SEARCH_BATCH) {
    for (const meta of await folder.metas(uids.slice(i, i + SEARCH_BATCH))) if (meta && BigInt(meta.modseq) > highest) highest = BigInt(meta.modseq);
  }
  return highest > 0n ? String(highest) : undefined;
}
