import type { Logger } from '../../log.js';
import type { Uid } from '../../model/types.js';
import type { ImapSession } from '../imap-core.js';
import { folderOf } from '../mailbox-id.js';
import { handle, Reply } from '../responses.js';
import { announceCondstore, writeFlagFetches } from '../untagged.js';

interface StoreUpdate {
  value: string[];
  action: 'add' | 'remove' | 'set';
  silent: boolean;
  messages: Uid[];
  unchangedSince: number;
}

const ACTIONS = { add: '+FLAGS', remove: '-FLAGS', set: 'FLAGS' } as const;

/** STORE / UID STORE: upstream first (UNCHANGEDSINCE included), then the cache; MODIFIED passed on. */
export function makeOnStore(deps: { log: Logger }) {
  return handle(deps.log, 'STORE', async (mailbox: string, update: StoreUpdate, session: ImapSession) => {
    const folder = folderOf(session, mailbox);
    announceCondstore(session, folder.highestModseq());
    const { updates, modified } = await folder.storeFlags(update.messages, ACTIONS[update.action], update.value, {
      ...(update.unchangedSince ? { unchangedSince: String(update.unchangedSince) } : {}),
      origin: session.id,
    });
    writeFlagFetches(session, updates, !update.silent);
    return new Reply(true, modified);
  });
}
