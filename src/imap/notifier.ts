import type { Accounts } from '../sync/accounts.js';
import type { ImapNotifier } from './imap-core.js';
import { mailboxIdOf, parseMailboxId } from './mailbox-id.js';
import { accountOf, contain, stateOf } from './session-state.js';

/**
 * imap-core's notifier: it registers a listener per logged-in session and, when told something
 * changed, asks for the updates of the session's selected mailbox above what the session has
 * seen, to send them as EXISTS / EXPUNGE / FETCH (at once when idling, else after a command).
 * The listener runs imap-core's code on the account's events: contained to its connection.
 */
export function createNotifier(accounts: Accounts): ImapNotifier {
  return {
    addListener(session, listener) {
      const account = accountOf(session);
      const updated = () => contain(session, () => listener());
      const dropped = (path: string) => contain(session, () => listener({ command: 'DROP', mailbox: mailboxIdOf(account, path) }));
      account.on('updated', updated);
      account.on('dropped', dropped);
      stateOf(session).stopListening = () => {
        account.off('updated', updated);
        account.off('dropped', dropped);
      };
    },
    removeListener(session) {
      const state = stateOf(session);
      state.stopListening?.();
      state.stopListening = undefined;
    },
    getUpdates(mailbox, modifyIndex, callback) {
      const { accountId, path } = parseMailboxId(mailbox);
      const account = accounts.get(accountId);
      callback(null, account ? account.folder(path).journal.since(modifyIndex) : []);
    },
  };
}
