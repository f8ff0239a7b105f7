import type { Logger } from '../../log.js';
import type { ImapSession } from '../imap-core.js';
import { folderOf } from '../mailbox-id.js';

/**
 * NOOP and CHECK with a mailbox selected: its cache is brought up to date with upstream first,
 * so what other clients changed reaches this session as EXISTS / EXPUNGE / FETCH before the OK.
 * Never fails the command: offline, the cache is what there is.
 */
export function makeRefreshSelected(deps: { log: Logger }) {
  return async (session: ImapSession): Promise<void> => {
    const selected = session.selected;
    if (!selected) return;
    try {
      await folderOf(session, selected.mailbox).refresh();
    } catch (err) {
      deps.log.debug({ err, session: session.id }, 'NOOP: the selected folder could not be refreshed');
    }
  };
}

/**
 * New messages a session was just told of (EXISTS): those no session had yet are \Recent in this
 * one, if it selected the folder read-write (RFC 3501 2.3.2). Returns them.
 */
export function makeClaimArrivals() {
  return (session: ImapSession, uids: number[]): number[] => {
    const selected = session.selected;
    if (!selected || selected.readOnly || uids.length === 0) return [];
    return folderOf(session, selected.mailbox).claimArrivals(uids);
  };
}
