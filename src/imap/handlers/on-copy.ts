import type { Logger } from '../../log.js';
import type { Uid } from '../../model/types.js';
import { toSequenceSet } from '../../model/uid-set.js';
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
function answerCopy(session: ImapSession, copyUid: CopyUid | undefined): Reply {
  if (!copyUid) {
    overrideAnswer(session, { response: 'OK', message: 'COPY completed' });
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
    return answerCopy(session, await transferMessages(source, destination, request.messages, 'copy', session.id));
  });
}

/**
 * MOVE / UID MOVE: the session gets COPYUID in an untagged OK before the EXPUNGEs for what left
 * its folder (RFC 6851 4.3: the tagged OK comes after the EXPUNGEs, too late to say where the
 * messages went).
 */
export function makeOnMove(deps: { log: Logger }) {
  return handle(deps.log, 'MOVE', async (mailbox: string, request: TransferRequest, session: ImapSession) => {
    const source = folderOf(session, mailbox);
    const destination = accountOf(session).folder(request.destination);
    const copyUid = await transferMessages(source, destination, request.messages, 'move', session.id);
    if (copyUid) {
      const code = `COPYUID ${copyUid.uidValidity} ${toSequenceSet([...copyUid.map.keys()])} ${toSequenceSet([...copyUid.map.values()])}`;
      session.writeStream.write({ compiled: Buffer.from(`* OK [${code}] Moved`) });
    }
    writeExpunges(session, request.messages);
    overrideAnswer(session, { response: 'OK', message: 'MOVE completed' });
    return new Reply(true, {});
  });
}
