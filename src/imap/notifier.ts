import type { Logger } from '../log.js';
import type { Accounts } from '../sync/accounts.js';
import type { FolderUpdate } from '../sync/update-journal.js';
import { contain, type ImapSession } from './imap-core.js';
import { mailboxIdOf, parseMailboxId } from './mailbox-id.js';
import { accountOf } from './session-account.js';

type Listener = (message?: { command: 'DROP'; mailbox: string }) => void;

/**
 * imap-core's notifier: it registers a listener per logged-in session and, when told something
 * changed, asks for the updates of the session's selected mailbox above what the session has
 * seen, to send them as EXISTS / EXPUNGE / FETCH (at once when idling, else after a command).
 * The listener runs imap-core's code on the account's events: contained to its connection.
 */
export function createNotifier(accounts: Accounts, log: Logger) {
  const unsubscribe = new Map<ImapSession, () => void>();
  return {
    addListener(session: ImapSession, listener: Listener): void {
      const account = accountOf(session);
      const updated = () => contain(session, log, () => listener());
      const dropped = (path: string) => contain(session, log, () => listener({ command: 'DROP', mailbox: mailboxIdOf(account, path) }));
      account.on('updated', updated);
      account.on('dropped', dropped);
      unsubscribe.set(session, () => {
        account.off('updated', updated);
        account.off('dropped', dropped);
      });
    },
    removeListener(session: ImapSession): void {
      unsubscribe.get(session)?.();
      unsubscribe.delete(session);
    },
    getUpdates(mailbox: string, modifyIndex: number, callback: (err: null, updates: FolderUpdate[]) => void): void {
      const { accountId, path } = parseMailboxId(mailbox);
      const account = accounts.get(accountId);
      callback(null, account ? account.folder(path).journal.since(modifyIndex) : []);
    },
  };
}
