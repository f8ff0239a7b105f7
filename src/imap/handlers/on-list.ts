import { isSelectable } from '../../model/types.js';
import type { Logger } from '../../log.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { accountOf } from '../session-state.js';

/**
 * LIST: every selectable folder with its special use. imap-core filters by the pattern and adds
 * the hierarchy flags itself, listing a parent that is not a folder as \Noselect.
 */
export function makeOnList(deps: { log: Logger }) {
  return handle(deps.log, 'LIST', async (_query: string, session: ImapSession) => {
    const entries = await accountOf(session).list();
    return entries
      .filter(isSelectable)
      .map((entry) => ({ path: entry.path, ...(entry.specialUse ? { specialUse: entry.specialUse } : {}) }));
  });
}

/** LSUB: the folders subscribed upstream (lsub-listing.ts matches them against the pattern). */
export function makeOnLsub(deps: { log: Logger }) {
  return handle(deps.log, 'LSUB', async (_query: string, session: ImapSession) => {
    const paths = await accountOf(session).subscriptions();
    return paths.map((path) => ({ path }));
  });
}
