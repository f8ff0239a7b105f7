import type { Logger } from '../../log.js';
import { isProxyError, ProxyError } from '../../model/errors.js';
import type { Accounts } from '../../sync/accounts.js';
import type { AuthRequest, Callback, ImapSession } from '../imap-core.js';
import type { LoginThrottle } from '../login-throttle.js';
import { answerFor } from '../responses.js';
import { contain, stateOf } from '../session-state.js';

/**
 * LOGIN and AUTHENTICATE PLAIN: the credentials are checked by logging in upstream, unless this
 * user or address failed too often lately (then the login is refused without asking upstream).
 */
export function makeOnAuth(deps: { accounts: Accounts; throttle: LoginThrottle; log: Logger }) {
  return (login: AuthRequest, session: ImapSession, callback: Callback) => {
    const user = login.username;
    const address = session.remoteAddress;
    const waitMs = deps.throttle.waitMs(user, address);
    if (waitMs > 0) {
      deps.log.info({ session: session.id, user, address, waitMs }, 'login refused: too many failed logins');
      const clientText = `Too many failed logins, try again in ${Math.ceil(waitMs / 1000)} s`;
      return refuse(login, callback, new ProxyError('LOGIN_THROTTLED', 'too many failed logins', { clientText }));
    }
    deps.accounts.login({ user, pass: login.password }).then(
      (account) => {
        deps.throttle.succeeded(user, address);
        stateOf(session).account = account;
        deps.log.info({ session: session.id, user, account: account.id }, 'client logged in');
        contain(session, () => callback(null, { user: { id: account.id, username: user } }));
      },
      (err: unknown) => {
        if (isProxyError(err, 'UPSTREAM_AUTH_FAILED')) {
          deps.throttle.failed(user, address);
          deps.log.info({ session: session.id, user, address }, 'login refused by upstream');
          return contain(session, () => callback(null, {})); // imap-core answers NO [AUTHENTICATIONFAILED]
        }
        deps.log.warn({ session: session.id, user, err }, 'login failed');
        contain(session, () => refuse(login, callback, err));
      },
    );
  };
}

/**
 * imap-core sends an error that carries `response` as the tagged answer: for LOGIN with its
 * response code, for AUTHENTICATE without, so there the code goes into the text.
 */
function refuse(login: AuthRequest, callback: Callback, err: unknown): void {
  const answer = answerFor(err);
  const message = login.method === 'LOGIN' || !answer.code ? answer.message : `[${answer.code}] ${answer.message}`;
  callback(Object.assign(new Error(message), { ...answer, message }));
}
