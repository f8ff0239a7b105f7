import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import { commandModule, contain, type Callback, type ImapSession } from './imap-core.js';

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
    case 'LOGIN_THROTTLED':
      return { response: 'NO', code: 'AUTHENTICATIONFAILED', message: err.clientText || 'Too many failed logins, try again later' };
    case 'UPSTREAM_UNAVAILABLE':
      return { response: 'NO', code: 'UNAVAILABLE', message: 'The mail server is not reachable; try again later' };
    case 'UPSTREAM_NO':
      return { response: 'NO', ...(err.clientCode ? { code: err.clientCode } : {}), message: err.clientText || 'The mail server refused the command' };
    case 'UPSTREAM_BAD':
      return { response: 'BAD', message: err.clientText || 'The mail server rejected the command' };
    case 'NONEXISTENT':
      return { response: 'NO', code: 'NONEXISTENT', message: 'No such folder' };
    case 'UPSTREAM_PROTOCOL':
      return { response: 'NO', code: 'UNAVAILABLE', message: 'The mail server sent an answer the proxy cannot use' };
    default:
      return { response: 'NO', code: 'SERVERBUG', message: 'Internal error in the proxy' };
  }
}

/** A tagged answer as imap-core composes it. */
export interface TaggedAnswer {
  response: 'OK' | 'NO' | 'BAD';
  code?: string;
  message: string;
}

/**
 * imap-core turns a handler error into its own fixed "NO [TEMPFAIL]", and composes success
 * codes (COPYUID, APPENDUID) from values a handler may not have. A handler puts the answer it
 * wants here; the wrapped command module (installAnswerOverrides) sends it instead.
 */
const overrides = new WeakMap<ImapSession, TaggedAnswer>();

export function overrideAnswer(session: ImapSession, answer: TaggedAnswer): void {
  overrides.set(session, answer);
}

/** Command modules whose answers go through handlers of the proxy. */
const COMMAND_FILES = [
  'select', 'status', 'list', 'lsub', 'fetch', 'search', 'store', 'uid-store', 'copy', 'move', 'expunge', 'uid-expunge',
  'append', 'create', 'delete', 'rename', 'subscribe', 'unsubscribe',
];

export function installAnswerOverrides(): void {
  for (const file of COMMAND_FILES) {
    const mod = commandModule(file);
    const original = mod.handler;
    if ((original as { proxied?: boolean }).proxied) continue;
    const wrapped: typeof original = function (command, callback, next) {
      const session = this.session;
      overrides.delete(session);
      original.call(
        this,
        command,
        (err, response) => {
          const answer = overrides.get(session);
          overrides.delete(session);
          if (answer) return callback(null, { response: answer.response, code: answer.code, message: answer.message });
          callback(err, response);
        },
        next,
      );
    };
    (wrapped as { proxied?: boolean }).proxied = true;
    mod.handler = wrapped;
  }
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
      (result) => contain(session, log, () => (result instanceof Reply ? callback(null, ...result.values) : callback(null, result))),
      (err: unknown) => {
        if (isProxyError(err, 'CLIENT_GONE')) return contain(session, log, () => callback(null, true));
        const answer = answerFor(err);
        // the proxy's own failure is an error; upstream's ([SERVERBUG] in its NO) is its own
        const level = answer.code !== 'SERVERBUG' ? 'info' : isProxyError(err, 'UPSTREAM_NO') ? 'warn' : 'error';
        log[level]({ err, action, session: session.id }, `${action} failed`);
        overrides.set(session, answer);
        contain(session, log, () => callback(new Error(answer.message)));
      },
    );
  };
}
