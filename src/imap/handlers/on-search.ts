import type { Logger } from '../../log.js';
import { indexOfUid } from '../../model/uid-set.js';
import type { ImapSession, SearchOptions } from '../imap-core.js';
import { getMessageRange } from '../message-range.js';
import { handle } from '../responses.js';
import { compileSearch, takeSearchArguments } from '../search-query.js';
import { folderOf } from '../mailbox-id.js';

/**
 * SEARCH / UID SEARCH: answered by upstream, limited to the messages the client knows; while
 * upstream is unreachable, over the cache.
 */
export function makeOnSearch(deps: { log: Logger }) {
  return handle(deps.log, 'SEARCH', async (mailbox: string, _options: SearchOptions, session: ImapSession) => {
    const selected = session.selected;
    if (!selected) return { uidList: [] };
    const query = compileSearch(takeSearchArguments(session), (set) => getMessageRange(selected.uidList, set, false));
    const found = await folderOf(session, mailbox).search(query, selected.uidList);
    return { uidList: found.filter((uid) => indexOfUid(selected.uidList, uid) >= 0) };
  });
}
