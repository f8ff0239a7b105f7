import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../log.js';
import { isProxyError, ProxyError } from '../../model/errors.js';
import type { Accounts } from '../../sync/accounts.js';
import type { AuthRequest, Callback, ImapSession } from '../imap-core.js';
import type { LoginThrottle } from '../login-throttle.js';
import { answerFor } from '../responses.js';
import { contain, stateOf } from '../session-state.js';

/**
 * LOGIN and AUTHENTICATE PLAIN: the credentials are checked by logging in upstream. After too
 * many failures for this user or address, an attempt is answered only after a delay, and then
 * checked against the password upstream last accepted: a wrong one is refused without asking
 * upstream (a client retrying a stale password cannot get the account locked there), the right
 * one logs in. With nothing to compare with, upstream is asked, after the delay.
 */
export function makeOnAuth(deps: { accounts: Accounts; throttle: LoginThrottle; log: Logger }) {
  return (login: AuthRequest, session: ImapSession, callback: Callback) => {
    const user = login.username;
    const address = session.remoteAddress;
    const credentials = { user, pass: login.password };
    const waitMs = deps.throttle.waitMs(user, address);
    const admitted = waitMs > 0 ? sleep(waitMs).then(() => deps.accounts.isKnownPassword(credentials)) : Promise.resolve(undefined);
    admitted
      .then((known) => {
        if (known === false) {
          deps.log.info({ session: session.id, user, address, waitMs }, 'login refused after a delay: too many failed logins, and not the password upstream last accepted');
          throw new ProxyError('UPSTREAM_AUTH_FAILED', 'wrong password (checked against the stored hash: throttled)');
        }
        return deps.accounts.login(credentials);
      })
      .then(
        (account) => {
          deps.throttle.succeeded(user, address);
          stateOf(session).account = account;
          deps.log.info({ session: session.id, user, account: account.id }, 'client logged in');
          contain(session, () => callback(null, { user: { id: account.id, username: user } }));
        },
        (err: unknown) => {
          if (isProxyError(err, 'UPSTREAM_AUTH_FAILED')) {
            deps.throttle.failed(user, address);
            deps.log.info({ session: session.id, user, address }, 'login refused');
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
