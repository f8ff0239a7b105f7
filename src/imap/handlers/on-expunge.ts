import type { Logger } from '../../log.js';
import type { Uid } from '../../model/types.js';
import { expungeMessages } from '../../sync/writes.js';
import type { ImapSession } from '../imap-core.js';
import { folderOf } from '../mailbox-id.js';
import { handle, overrideAnswer } from '../responses.js';
import { stateOf } from '../session-state.js';
import { writeExpunges } from '../untagged.js';

interface ExpungeRequest {
  isUid: boolean;
  messages?: Uid[];
  /** CLOSE: no responses, the session has already left the folder. */
  silent?: boolean;
}

/** EXPUNGE, UID EXPUNGE and CLOSE. */
export function makeOnExpunge(deps: { log: Logger }) {
  return handle(deps.log, 'EXPUNGE', async (mailbox: string, request: ExpungeRequest, session: ImapSession) => {
    const folder = folderOf(session, mailbox);
    const gone = await expungeMessages(folder, request.isUid ? (request.messages ?? []) : undefined, request.silent ? undefined : session.id);
    if (request.silent) return true;
    writeExpunges(session, gone);
    // with QRESYNC the client learns where the mailbox now stands (RFC 7162 3.2.10)
    if (stateOf(session).qresync) overrideAnswer(session, { response: 'OK', code: `HIGHESTMODSEQ ${folder.highestModseq()}`, message: 'Expunge completed' });
    return true;
  });
}
