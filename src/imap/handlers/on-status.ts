import type { Logger } from '../../log.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { accountOf, stateOf } from '../session-state.js';

/**
 * STATUS: what upstream reported in the last seconds (LIST-STATUS), else upstream's STATUS;
 * HIGHESTMODSEQ is the proxy's own, of the folder brought up to date where it changed.
 */
export function makeOnStatus(deps: { log: Logger }) {
  return handle(deps.log, 'STATUS', async (path: string, session: ImapSession) => {
    const account = accountOf(session);
    const status = await account.status(path);
    const modseq = stateOf(session).statusItems.includes('HIGHESTMODSEQ') ? await account.folder(path).statusModseq(status) : '0';
    return {
      recent: account.folder(path).recentCount(),
      messages: status.messages,
      uidNext: status.uidNext,
      uidValidity: status.uidValidity,
      unseen: status.unseen ?? 0,
      highestModseq: modseq,
    };
  });
}
