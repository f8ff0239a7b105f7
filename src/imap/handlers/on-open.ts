import type { Logger } from '../../log.js';
import { isProxyError } from '../../model/errors.js';
import type { ImapSession } from '../imap-core.js';
import type { FolderGeneration } from '../../sync/generation.js';
import { handle } from '../responses.js';
import { mailboxIdOf } from '../mailbox-id.js';
import { accountOf } from '../session-state.js';

/** SELECT / EXAMINE: bring the folder's cache up to date with upstream, then present it. */
export function makeOnOpen(deps: { log: Logger }) {
  return handle(deps.log, 'SELECT', async (path: string, session: ImapSession) => {
    const account = accountOf(session);
    const folder = account.folder(path);
    let generation: FolderGeneration;
    try {
      await folder.sync();
      generation = await folder.ready();
    } catch (err) {
      if (isProxyError(err, 'NONEXISTENT')) return 'NONEXISTENT';
      throw err;
    }
    account.watcher.sessionSelected(session.id, folder.path);
    const view = folder.view(generation);
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
