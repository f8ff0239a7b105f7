import type { Logger } from '../../log.js';
import type { Uid } from '../../model/types.js';
import { transferMessages } from '../../sync/writes.js';
import type { CopyUid } from '../../upstream/response-codes.js';
import type { ImapSession } from '../imap-core.js';
import { folderOf } from '../mailbox-id.js';
import { handle, overrideAnswer, Reply } from '../responses.js';
import { accountOf } from '../session-state.js';
import { writeExpunges } from '../untagged.js';

interface TransferRequest {
  destination: string;
  messages: Uid[];
}

/** imap-core composes COPYUID from what the handler returns. */
function answer(session: ImapSession, command: string, copyUid: CopyUid | undefined): Reply {
  if (!copyUid) {
    overrideAnswer(session, { response: 'OK', message: `${command} completed` });
    return new Reply(true, {});
  }
  return new Reply(true, {
    uidValidity: copyUid.uidValidity,
    sourceUid: [...copyUid.map.keys()],
    destinationUid: [...copyUid.map.values()],
  });
}

/** COPY / UID COPY. */
export function makeOnCopy(deps: { log: Logger }) {
  return handle(deps.log, 'COPY', async (_connection: unknown, mailbox: string, request: TransferRequest, session: ImapSession) => {
    const source = folderOf(session, mailbox);
    const destination = accountOf(session).folder(request.destination);
    return answer(session, 'COPY', await transferMessages(source, destination, request.messages, 'copy', session.id));
  });
}

/** MOVE / UID MOVE: the session gets EXPUNGE for what left its folder. */
export function makeOnMove(deps: { log: Logger }) {
  return handle(deps.log, 'MOVE', async (mailbox: string, request: TransferRequest, session: ImapSession) => {
    const source = folderOf(session, mailbox);
    const destination = accountOf(session).folder(request.destination);
    const copyUid = await transferMessages(source, destination, request.messages, 'move', session.id);
    writeExpunges(session, request.messages);
    return answer(session, 'MOVE', copyUid);
  });
}
