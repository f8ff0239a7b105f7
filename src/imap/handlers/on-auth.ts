import type { Logger } from '../../log.js';
import { isProxyError } from '../../model/errors.js';
import type { Accounts } from '../../sync/accounts.js';
import type { AuthRequest, Callback, ImapSession } from '../imap-core.js';
import { answerFor } from '../responses.js';
import { bindAccount } from '../session-account.js';

/** LOGIN and AUTHENTICATE PLAIN: the credentials are checked by logging in upstream. */
export function makeOnAuth(deps: { accounts: Accounts; log: Logger }) {
  return (login: AuthRequest, session: ImapSession, callback: Callback) => {
    const user = login.username;
    deps.accounts.login({ user, pass: login.password }).then(
      (account) => {
        bindAccount(session, account);
        deps.log.info({ session: session.id, user, account: account.id }, 'client logged in');
        callback(null, { user: { id: account.id, username: user } });
      },
      (err: unknown) => {
        if (isProxyError(err, 'UPSTREAM_AUTH_FAILED')) {
          deps.log.info({ session: session.id, user }, 'login refused by upstream');
          return callback(null, {}); // imap-core answers NO [AUTHENTICATIONFAILED]
        }
        deps.log.warn({ session: session.id, user, err }, 'login failed');
        // imap-core sends an error that carries `response` as the tagged answer
        callback(Object.assign(new Error('login failed'), answerFor(err)));
      },
    );
  };
}
