import type { Logger } from '../log.js';
import { isProxyError } from '../model/errors.js';
import { commandModule, type Callback, type ImapSession } from './imap-core.js';

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
    case 'UPSTREAM_UNAVAILABLE':
      return { response: 'NO', code: 'UNAVAILABLE', message: 'The mail server is not reachable; try again later' };
    case 'UPSTREAM_NO':
      return { response: 'NO', message: err.clientText || 'The mail server refused the command' };
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

/**
 * imap-core turns a handler error into its own fixed "NO [TEMPFAIL]". A handler that fails puts
 * the answer it wants here; the wrapped command module (installAnswerOverrides) sends it instead.
 */
const overrides = new WeakMap<ImapSession, ImapAnswer>();

/** Command modules whose failures go through handlers of the proxy. */
const COMMAND_FILES = ['select', 'status', 'list', 'lsub', 'fetch', 'search'];

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
          const failed = err || (response as { response?: string } | undefined)?.response === 'NO';
          if (answer && failed) return callback(null, { response: answer.response, code: answer.code, message: answer.message });
          callback(err, response);
        },
        next,
      );
    };
    (wrapped as { proxied?: boolean }).proxied = true;
    mod.handler = wrapped;
  }
}

/**
 * Adapts an async handler to imap-core's callback style: its result goes to the callback, a
 * thrown error becomes the mapped answer. imap-core does not catch exceptions in handlers.
 */
export function handle<A extends unknown[]>(
  log: Logger,
  action: string,
  fn: (...args: A) => Promise<unknown>,
): (...args: [...A, Callback]) => void {
  return (...args) => {
    const callback = args[args.length - 1] as Callback;
    const params = args.slice(0, -1) as unknown as A;
    const session = params.find((p) => typeof p === 'object' && p !== null && 'writeStream' in p) as ImapSession | undefined;
    fn(...params).then(
      (result) => callback(null, result),
      (err: unknown) => {
        if (isProxyError(err, 'CLIENT_GONE')) return callback(null, true);
        const answer = answerFor(err);
        const level = answer.code === 'SERVERBUG' ? 'error' : 'info';
        log[level]({ err, action, session: session?.id }, `${action} failed`);
        if (session) overrides.set(session, answer);
        callback(new Error(answer.message));
      },
    );
  };
}
