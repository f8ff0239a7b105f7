import type { Logger } from '../../log.js';
import { appendMessage } from '../../sync/writes.js';
import type { ImapSession } from '../imap-core.js';
import { handle, overrideAnswer, Reply } from '../responses.js';
import { accountOf } from '../session-state.js';

/** APPEND: upstream first; the bytes the client sent become the cached body of the new UID. */
export function makeOnAppend(deps: { log: Logger }) {
  return handle(deps.log, 'APPEND', async (path: string, flags: string[], date: string | false, raw: Buffer, session: ImapSession) => {
    const appended = await appendMessage(accountOf(session), path, raw, flags, date || undefined);
    if (!appended) {
      overrideAnswer(session, { response: 'OK', message: 'APPEND completed' });
      return new Reply(true, {});
    }
    return new Reply(true, { uidValidity: appended.uidValidity, uid: appended.uid });
  });
}
