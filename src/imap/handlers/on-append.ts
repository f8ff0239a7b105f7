import type { Logger } from '../../log.js';
import { toSequenceSet } from '../../model/uid-set.js';
import { isSelectable, type Uid } from '../../model/types.js';
import type { AppendUid } from '../../upstream/upstream-connection.js';
import { appendMessages, type AppendingMessage } from '../../sync/writes.js';
import type { AppendIntake } from '../append-intake.js';
import type { ImapSession } from '../imap-core.js';
import { handle, overrideAnswer, Reply } from '../responses.js';
import { accountOf } from '../session-state.js';

/**
 * APPEND and MULTIAPPEND, once the client sent the whole command (append-intake.ts): upstream
 * first, all or nothing; the messages become the cached bodies of their new UIDs.
 */
export function appendFor(session: ImapSession, path: string, messages: AppendingMessage[]): Promise<AppendUid | undefined> {
  return appendMessages(accountOf(session), path, messages);
}

/** Whether the folder exists, as upstream last listed it. */
export async function folderExists(session: ImapSession, path: string): Promise<boolean> {
  return (await accountOf(session).list()).some((entry) => entry.path === path && isSelectable(entry));
}

/** The command's end: answered with APPENDUID (RFC 4315, a set for MULTIAPPEND) when upstream gave it. */
export function makeOnAppend(deps: { log: Logger }) {
  return handle(deps.log, 'APPEND', async (intake: AppendIntake, session: ImapSession) => {
    const appended = (await intake.end()) as AppendUid | undefined;
    const code = appended?.uids.length ? `APPENDUID ${appended.uidValidity} ${toSequenceSet(appended.uids as Uid[])}` : undefined;
    overrideAnswer(session, { response: 'OK', ...(code ? { code } : {}), message: 'APPEND completed' });
    return new Reply(true, {});
  });
}
