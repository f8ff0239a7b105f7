/**
 * Errors that cross layer boundaries carry a stable code; the IMAP layer maps codes to
 * NO/BAD answers in one place (imap/responses.ts), logs get the context and the cause.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'UPSTREAM_UNAVAILABLE' // connect refused, timed out, TLS failure, connection lost
  | 'UPSTREAM_THROTTLED' // upstream asks to slow down (a backoff hint longer than a client waits) or refuses another connection (too many)
  | 'UPSTREAM_AUTH_FAILED' // the credentials are refused: by upstream, by the stored hash, or no account has the login name
  | 'UPSTREAM_TOKEN_REFUSED' // auth = "oauth2": no stored grant, or the provider refuses it for good (revoked, expired): `account login` again
  | 'UPSTREAM_NO' // upstream answered NO; the text goes to the client
  | 'UPSTREAM_BAD' // upstream answered BAD
  | 'UPSTREAM_PROTOCOL' // upstream sent something we cannot use
  | 'NONEXISTENT' // no such folder or message
  | 'CACHE_FAILURE' // LevelDB failed or holds a record we cannot read
  | 'CLIENT_GONE' // the client disconnected while we were answering
  | 'CLIENT_BAD' // the client's command is malformed: BAD with the reason
  | 'CLIENT_REFUSED' // the client asked for what the proxy will not do: NO with the reason
  | 'INTERNAL';

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;
  /** Text meant for the IMAP client (upstream's own answer text, for example). */
  readonly clientText: string | undefined;
  /** An IMAP response code for the client, e.g. TRYCREATE from upstream's answer. */
  readonly clientCode: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown; clientText?: string; clientCode?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyError';
    this.code = code;
    this.context = options.context ?? {};
    this.clientText = options.clientText;
    this.clientCode = options.clientCode;
  }
}

export function isProxyError(err: unknown, code?: ErrorCode): err is ProxyError {
  return err instanceof ProxyError && (code === undefined || err.code === code);
}

/** Upstream cannot be used now, unreachable or refusing (throttled, too many connections): what the cache has is the answer. */
export function isUpstreamOut(err: unknown): err is ProxyError {
  return isProxyError(err, 'UPSTREAM_UNAVAILABLE') || isProxyError(err, 'UPSTREAM_THROTTLED');
}
