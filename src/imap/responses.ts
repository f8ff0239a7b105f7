import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import type { Callback, ImapSession } from './imap-core.js';
import { contain, stateOf, type TaggedAnswer } from './session-state.js';

/** A tagged NO/BAD as the client will see it. */
export interface ImapAnswer {
  response: 'NO' | 'BAD';
  code?: string;
  message: string;
}

/** The one place where errors become IMAP answers. Details go to the log, not to the client. */
export function answerFor(err: unknown): ImapAnswer {
  if (!isProxyError(err)) return { response: 'NO', code: 'SERVERBUG', message: 'Internal error in the proxy' };
  switch (err.code) {
    case 'UPSTREAM_AUTH_FAILED':
      return { response: 'NO', code: 'AUTHENTICATIONFAILED', message: 'Invalid credentials' };
    case 'UPSTREAM_TOKEN_REFUSED':
      return { response: 'NO', code: 'AUTHENTICATIONFAILED', message: err.clientText || 'The mail provider refused the stored authorization' };
    case 'UPSTREAM_UNAVAILABLE':
      return { response: 'NO', code: 'UNAVAILABLE', message: err.clientText || 'The mail server is not reachable; try again later' };
    case 'UPSTREAM_THROTTLED':
      return { response: 'NO', code: 'UNAVAILABLE', message: err.clientText || 'The mail server asks the proxy to slow down; try again later' };
    case 'UPSTREAM_NO':
      return { response: 'NO', ...(err.clientCode ? { code: err.clientCode } : {}), message: err.clientText || 'The mail server refused the command' };
    case 'UPSTREAM_BAD':
      return { response: 'BAD', message: err.clientText || 'The mail server rejected the command' };
    case 'NONEXISTENT':
      return { response: 'NO', code: 'NONEXISTENT', message: err.clientText || 'No such folder' };
    case 'CLIENT_BAD':
      return { response: 'BAD', message: err.clientText || err.message };
    case 'CLIENT_REFUSED':
      return { response: 'NO', ...(err.clientCode ? { code: err.clientCode } : {}), message: err.clientText || err.message };
    case 'UPSTREAM_PROTOCOL':
      return { response: 'NO', code: 'UNAVAILABLE', message: 'The mail server sent an answer the proxy cannot use' };
    default:
      return { response: 'NO', code: 'SERVERBUG', message: 'Internal error in the proxy' };
  }
}

/** The answer a handler wants for its command instead of the one imap-core would compose. */
export function overrideAnswer(session: ImapSession, answer: TaggedAnswer): void {
  stateOf(session).answer = answer;
}

/** Several callback values (imap-core's `(err, success, info)` callbacks). */
export class Reply {
  readonly values: unknown[];
  constructor(...values: unknown[]) {
    this.values = values;
  }
}

/**
 * Adapts an async handler to imap-core's callback style: its result goes to the callback (a
 * Reply's values spread), a thrown error becomes the mapped answer. imap-core does not catch
 * exceptions in handlers, nor in the code the callback runs (contain).
 */
export function handle<A extends unknown[]>(
  log: Logger,
  action: string,
  fn: (...args: A) => Promise<unknown>,
): (...args: [...A, Callback]) => void {
  return (...args) => {
    const callback = args[args.length - 1] as Callback;
    const params = args.slice(0, -1) as unknown as A;
    // the session is the last argument that has an output stream (onCopy gets the connection first)
    const session = params.findLast((p) => typeof p === 'object' && p !== null && 'writeStream' in p) as ImapSession;
    fn(...params).then(
      (result) => contain(session, () => (result instanceof Reply ? callback(null, ...result.values) : callback(null, result))),
      (err: unknown) => {
        if (isProxyError(err, 'CLIENT_GONE')) return contain(session, () => callback(null, true));
        const answer = answerFor(err);
        logFailure(log, err, answer, action, session.id);
        overrideAnswer(session, answer);
        contain(session, () => callback(new Error(answer.message)));
      },
    );
  };
}

/**
 * The proxy's own failure is an error, with its stack; upstream's ([SERVERBUG] in its NO) a
 * warning; upstream out of reach is worth a line; an answer upstream gave for a client's command
 * (a missing folder, a refused name) is expected: debug, without a stack.
 */
function logFailure(log: Logger, err: unknown, answer: ImapAnswer, action: string, session: string): void {
  if (answer.code === 'SERVERBUG') {
    log[isProxyError(err, 'UPSTREAM_NO') ? 'warn' : 'error']({ err, action, session }, `${action} failed`);
  } else if (answer.code === 'UNAVAILABLE') {
    log.info({ action, session, reason: (err as Error).message }, `${action} failed: upstream unavailable`);
  } else {
    log.debug({ action, session, answer: `${answer.response}${answer.code ? ` [${answer.code}]` : ''} ${answer.message}` }, `${action} refused`);
  }
}
