import type { Logger } from '../../log.js';
import { isProxyError } from '../../model/errors.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { mailboxIdOf } from '../mailbox-id.js';
import { accountOf } from '../session-account.js';

/** SELECT / EXAMINE: bring the folder's cache up to date with upstream, then present it. */
export function makeOnOpen(deps: { log: Logger }) {
  return handle(deps.log, 'SELECT', async (path: string, session: ImapSession) => {
    const account = accountOf(session);
    const folder = account.folder(path);
    try {
      await folder.sync();
    } catch (err) {
      if (isProxyError(err, 'NONEXISTENT')) return 'NONEXISTENT';
      throw err;
    }
    account.watcher.sessionSelected(session.id, folder.path);
    const view = folder.view();
    return {
      _id: mailboxIdOf(account, folder.path),
      uidList: view.uids.slice(),
      uidValidity: view.uidValidity,
      uidNext: view.uidNext,
      modifyIndex: view.modifyIndex,
      flags: view.keywords,
    };
  });
}
