import type { Logger } from '../../log.js';
import { isProxyError } from '../../model/errors.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { accountOf } from '../session-account.js';

/** SELECT / EXAMINE: bring the folder's cache up to date with upstream, then present it. */
export function makeOnOpen(deps: { log: Logger }) {
  return handle(deps.log, 'SELECT', async (path: string, session: ImapSession) => {
    const folder = accountOf(session).folder(path);
    try {
      await folder.sync();
    } catch (err) {
      if (isProxyError(err, 'NONEXISTENT')) return 'NONEXISTENT';
      throw err;
    }
    const view = folder.view();
    return {
      _id: folder.path,
      uidList: view.uids.slice(),
      uidValidity: view.uidValidity,
      uidNext: view.uidNext,
      modifyIndex: Number(view.highestModseq),
      flags: view.keywords,
    };
  });
}
