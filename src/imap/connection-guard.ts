import type { Logger } from '../log.js';
import type { ImapSession } from './imap-core.js';
import { disconnect } from './session-state.js';

export interface ConnectionLimits {
  /** Client connections at once, over all listeners. */
  maxConnections: number;
  /** Client connections at once from one address. */
  maxConnectionsPerIp: number;
  /** A connection that has not logged in after this long is closed. */
  loginTimeoutMs: number;
}

/**
 * Admits client connections within the limits (in total and per address) and closes those that
 * do not log in in time. One guard serves every listener of the proxy.
 */
export class ConnectionGuard {
  /** Admitted connections, each with its login deadline. */
  private readonly open = new Map<ImapSession, NodeJS.Timeout>();
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {}

  get count(): number {
    return this.open.size;
  }

  /** A new connection: why it is refused, or nothing when it is admitted. */
  admit(session: ImapSession): string | undefined {
    const address = session.remoteAddress;
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.open.size >= this.limits.maxConnections || fromAddress >= this.limits.maxConnectionsPerIp) {
      this.log.warn({ session: session.id, address, open: this.open.size, fromAddress }, 'connection refused: too many connections');
      return 'Too many connections';
    }
    this.perAddress.set(address, fromAddress + 1);
    const deadline = setTimeout(() => this.loginDeadline(session), this.limits.loginTimeoutMs).unref();
    this.open.set(session, deadline);
    return undefined;
  }

  /** A connection ended (imap-core reports refused ones too: those were never counted). */
  closed(session: ImapSession): void {
    const deadline = this.open.get(session);
    if (!deadline) return;
    clearTimeout(deadline);
    this.open.delete(session);
    const address = session.remoteAddress;
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(address, left);
    else this.perAddress.delete(address);
  }

  private loginDeadline(session: ImapSession): void {
    if (session.user) return;
    this.log.info({ session: session.id, address: session.remoteAddress }, 'no login in time: connection closed');
    disconnect(session, 'Login timeout, closing connection');
  }
}

/**
 * imap-core's `onConnect` option from a check that returns why a new connection is refused (sent
 * as `* BYE <reason>` before imap-core closes it), or nothing to accept it.
 */
export function connectCheck(refusal: (session: ImapSession) => string | undefined) {
  return (session: ImapSession, callback: (err?: Error) => void): void => {
    const reason = refusal(session);
    if (reason === undefined) return callback();
    // imap-core sets its socket listeners only on accepted connections: a reset of a refused
    // one would otherwise be an 'error' event without a listener, which ends the process
    session.socket.on('error', () => undefined);
    callback(new Error(reason));
  };
}
