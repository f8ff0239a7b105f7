import type { Logger } from '../log.js';
import { disconnect, type ImapSession } from './imap-core.js';

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
