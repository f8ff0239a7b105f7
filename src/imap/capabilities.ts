/** What decides a connection's capabilities. */
export interface CapabilityState {
  authenticated: boolean;
  /** TLS is on (implicit TLS, or after STARTTLS). */
  secure: boolean;
  /** STARTTLS may be used (a listener with a certificate). */
  startTls: boolean;
  /** LOGIN in the clear is refused until STARTTLS. */
  loginDisabled: boolean;
  /** COMPRESS=DEFLATE toward clients. */
  compress: boolean;
  appendLimit?: number;
  /** What upstream announced, once logged in. */
  upstream?: ReadonlySet<string>;
}

/**
 * What the proxy implements, tested against Dovecot, whatever the connection's state (RFC 3501
 * 7.2.1). imap-core's own list also names XLIST (Gmail's retired LIST), AUTH=PLAIN-CLIENTTOKEN
 * (WildDuck's own) and QUOTA (no quota commands here, each answers NO): not announced.
 */
const IMPLEMENTED = ['CATENATE', 'CHILDREN', 'CONDSTORE', 'CONTEXT=SEARCH', 'CONTEXT=SORT', 'ENABLE', 'ESEARCH', 'ESORT', 'ID', 'IDLE', 'LIST-EXTENDED', 'LIST-STATUS', 'LITERAL+', 'MOVE', 'MULTIAPPEND', 'NAMESPACE', 'NOTIFY', 'QRESYNC', 'SEARCHRES', 'SORT', 'SORT=DISPLAY', 'SPECIAL-USE', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'UIDPLUS', 'UNSELECT', 'UTF8=ACCEPT', 'WITHIN'];

/**
 * Extensions passed through to upstream, announced after login where upstream has them: BINARY
 * needs decoding, which the proxy leaves to upstream; CREATE-SPECIAL-USE is upstream's to grant.
 */
const FROM_UPSTREAM = ['BINARY', 'CREATE-SPECIAL-USE'];

/**
 * The capabilities announced in the greeting, after login and to CAPABILITY: the same list in
 * every state, plus how to log in before it (AUTH=PLAIN, SASL-IR, STARTTLS where it can be used)
 * and after it COMPRESS (RFC 4978 allows it in the authenticated state only) and what is passed
 * through where upstream has it.
 */
export function capabilityList(state: CapabilityState): string[] {
  const list = [...IMPLEMENTED];
  if (state.appendLimit) list.push(`APPENDLIMIT=${state.appendLimit}`);
  if (!state.authenticated) {
    list.push('AUTH=PLAIN', 'SASL-IR');
    if (state.startTls && !state.secure) list.push('STARTTLS');
    if (state.loginDisabled && !state.secure) list.push('LOGINDISABLED');
  } else {
    if (state.compress) list.push('COMPRESS=DEFLATE');
    list.push(...FROM_UPSTREAM.filter((name) => state.upstream?.has(name)));
  }
  return ['IMAP4rev1', ...list.sort()];
}
