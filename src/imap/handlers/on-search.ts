import type { Logger } from '../../log.js';
import { isProxyError } from '../../model/errors.js';
import { indexOfUid } from '../../model/uid-set.js';
import { Priority } from '../../upstream/connection-pool.js';
import { getMessageRange, type ImapSession, type SearchOptions } from '../imap-core.js';
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
    const folder = folderOf(session, mailbox);
    let found: number[];
    try {
      found = await folder.account.pool.run({ folder: folder.path, priority: Priority.Client }, (conn) => conn.uidSearch(query));
    } catch (err) {
      if (!isProxyError(err, 'UPSTREAM_UNAVAILABLE')) throw err;
      found = await folder.searchCached(query, selected.uidList);
    }
    return { uidList: found.filter((uid) => indexOfUid(selected.uidList, uid) >= 0) };
  });
}
