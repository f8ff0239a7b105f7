import { ProxyError } from '../model/errors.js';
import type { FolderPath } from '../model/types.js';
import type { Account } from '../sync/account.js';
import type { Folder } from '../sync/folder.js';
import type { ImapSession } from './imap-core.js';
import { accountOf } from './session-state.js';

/**
 * imap-core identifies a selected mailbox by one string, also across sessions (its notifier is
 * asked for a mailbox's updates without saying whose): the account id and the folder path.
 */
export function mailboxIdOf(account: Account, path: FolderPath): string {
  return `${account.id}:${path}`;
}

export function parseMailboxId(mailbox: string): { accountId: string; path: FolderPath } {
  const at = mailbox.indexOf(':');
  return { accountId: mailbox.slice(0, at), path: mailbox.slice(at + 1) };
}

/** The folder a session refers to; never another account's. */
export function folderOf(session: ImapSession, mailbox: string): Folder {
  const account = accountOf(session);
  const { accountId, path } = parseMailboxId(mailbox);
  if (accountId !== account.id) throw new ProxyError('INTERNAL', 'mailbox of another account', { context: { session: session.id } });
  return account.folder(path);
}
