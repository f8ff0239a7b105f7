import { ProxyError } from '../model/errors.js';
import type { Account } from '../sync/account.js';
import type { ImapSession } from './imap-core.js';

const accounts = new WeakMap<ImapSession, Account>();

export function bindAccount(session: ImapSession, account: Account): void {
  accounts.set(session, account);
}

/** A client connection ended: its account stops watching on its behalf. */
export function sessionClosed(session: ImapSession): void {
  accounts.get(session)?.watcher.sessionLeft(session.id);
  accounts.delete(session);
}

/** The account a logged-in session belongs to. */
export function accountOf(session: ImapSession): Account {
  const account = accounts.get(session);
  if (!account) throw new ProxyError('INTERNAL', 'session has no account', { context: { session: session.id } });
  return account;
}
