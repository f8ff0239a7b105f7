import type { Logger } from '../../log.js';
import type { ImapSession } from '../imap-core.js';
import { handle } from '../responses.js';
import { accountOf, stateOf } from '../session-state.js';

/** CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE: upstream first, then the cache follows. */
export function makeFolderHandlers(deps: { log: Logger }) {
  return {
    onCreate: handle(deps.log, 'CREATE', async (path: string, session: ImapSession) => {
      const state = stateOf(session);
      const use = state.createUse;
      state.createUse = [];
      await accountOf(session).createFolder(path, use);
      return true;
    }),
    onDelete: handle(deps.log, 'DELETE', async (path: string, session: ImapSession) => {
      await accountOf(session).deleteFolder(path);
      return true;
    }),
    onRename: handle(deps.log, 'RENAME', async (path: string, newPath: string, session: ImapSession) => {
      await accountOf(session).renameFolder(path, newPath);
      return true;
    }),
    onSubscribe: handle(deps.log, 'SUBSCRIBE', async (path: string, session: ImapSession) => {
      await accountOf(session).subscribe(path, true);
      return true;
    }),
    onUnsubscribe: handle(deps.log, 'UNSUBSCRIBE', async (path: string, session: ImapSession) => {
      await accountOf(session).subscribe(path, false);
      return true;
    }),
  };
}
