import type { Logger } from '../../log.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { mailboxIdOf } from '../mailbox-id.js';
import { accountOf } from '../session-state.js';
import type { OpenedMailbox } from '../select-command.js';

/** SELECT / EXAMINE: bring the folder's cache up to date with upstream, then present it (from the cache while upstream is out of reach). */
export function makeOnOpen(deps: { log: Logger }) {
  return handle(deps.log, 'SELECT', async (path: string, session: ImapSession, readOnly: boolean) => {
    const account = accountOf(session);
    const folder = account.folder(path);
    // what the client is told is upstream's state now (one round trip when nothing changed)
    await folder.refresh();
    const generation = await folder.ready();
    account.watcher.sessionSelected(session.id, folder.path);
    const view = folder.view(generation);
    const opened: OpenedMailbox = {
      _id: mailboxIdOf(account, folder.path),
      uidList: view.uids,
      uidValidity: view.uidValidity,
      uidNext: view.uidNext,
      modifyIndex: view.modifyIndex,
      flags: view.keywords,
      recent: folder.claimRecent(generation, readOnly),
      firstUnseen: await folder.firstUnseen(generation),
    };
    return opened;
  });
}
