import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { imapCoreErrorReport, imapCoreLogger, type Logger } from '../log.js';
import { COMMAND_LITERALS_SLACK, SHUTDOWN_FLUSH_MS } from '../model/limits.js';
import { isLoopback } from '../model/loopback.js';
import type { Accounts } from '../sync/accounts.js';
import { openCatenateUrl } from './handlers/catenate-url.js';
import { appendFor, folderExists, makeOnAppend } from './handlers/on-append.js';
import { makeOnAuth } from './handlers/on-auth.js';
import { makeOnCopy, makeOnMove } from './handlers/on-copy.js';
import { makeOnExpunge } from './handlers/on-expunge.js';
import { makeFolderHandlers } from './handlers/on-folders.js';
import { makeOnStore } from './handlers/on-store.js';
import { makeOnFetch } from './handlers/on-fetch.js';
import { makeOnList, makeOnLsub } from './handlers/on-list.js';
import { makeClaimArrivals, makeRefreshSelected } from './handlers/selected-mailbox.js';
import { makeOnOpen } from './handlers/on-open.js';
import { makeOnSearch, searchSelected } from './handlers/on-search.js';
import { makeResyncSelected } from './handlers/on-resync.js';
import { makeOnStatus } from './handlers/on-status.js';
import { connectCheck, ConnectionGuard, type ConnectionLimits } from './connection-guard.js';
import { applyCorePatches, type PatchedServerOptions } from './core-patches.js';
import { createCoreServer, type ImapCoreServer, type ImapServerHandlers, type ImapSession } from './imap-core.js';
import { LoginThrottle } from './login-throttle.js';
import { createNotifier } from './notifier.js';
import { stateOf } from './session-state.js';

export interface ImapServerOptions {
  accounts: Accounts;
  listen: { host: string; port: number };
  /** A second listener for implicit TLS (IMAPS), if any. */
  tlsListen?: { host: string; port: number };
  /** COMPRESS=DEFLATE for clients: auto = on a listener that is not loopback. */
  compress: 'auto' | 'on' | 'off';
  /** For STARTTLS on `listen` and for `tlsListen`. */
  certificate: { cert: string; key: string };
  limits: ClientLimits;
  /** Where the messages of an APPEND wait for the command's end (emptied at start). */
  spoolDir: string;
  log: Logger;
  version: string;
}

/** What one client may send and hold (the settings max-line-length, max-message-size, ...). */
export interface ClientLimits extends ConnectionLimits {
  maxLineLength: number;
  /** The largest APPEND, advertised as APPENDLIMIT. */
  maxMessageSize: number;
  /** A connection without traffic for this long is closed (IDLE keeps it open). */
  idleTimeoutMs: number;
}

export interface RunningImapServer {
  /** The plain listener (STARTTLS offered). */
  address: { host: string; port: number };
  /** The implicit-TLS listener, when there is one. */
  tlsAddress?: { host: string; port: number };
  connectionCount(): number;
  /** New certificate for new TLS handshakes (SIGHUP). */
  updateCertificate(certificate: { key: string; cert: string }): void;
  close(): Promise<void>;
}

/**
 * The IMAP server clients talk to: imap-core with the proxy's handlers, on a plain listener
 * (STARTTLS offered) and, with `tlsListen`, on an implicit-TLS one.
 */
export async function startImapServer(options: ImapServerOptions): Promise<RunningImapServer> {
  const log = options.log.child({ component: 'imap' });
  applyCorePatches(imapCoreErrorReport(log));
  const createServer = serverFactory(options, log);
  const plain = createServer(false, compressOn(options.compress, options.listen.host));
  const address = await listen(plain, options.listen);
  const servers = [plain];
  let tlsAddress: { host: string; port: number } | undefined;
  if (options.tlsListen) {
    const secure = createServer(true, compressOn(options.compress, options.tlsListen.host));
    try {
      tlsAddress = await listen(secure, options.tlsListen);
    } catch (err) {
      await closeServer(plain);
      throw err;
    }
    servers.push(secure);
  }
  return {
    address,
    tlsAddress,
    connectionCount: () => servers.reduce((sum, server) => sum + server.connections.size, 0),
    updateCertificate: ({ key, cert }) => servers.forEach((server) => server.updateSecureContext({ key, cert })),
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
}

/** Whether a listener offers COMPRESS=DEFLATE. */
function compressOn(setting: ImapServerOptions['compress'], host: string): boolean {
  return setting === 'on' || (setting === 'auto' && !isLoopback(host));
}

/**
 * Builds imap-core servers that share one notifier, one set of handlers and one set of limits;
 * `secure`: TLS from the first byte, else plain with STARTTLS.
 */
function serverFactory(options: ImapServerOptions, log: Logger): (secure: boolean, compress: boolean) => ImapCoreServer {
  const { limits } = options;
  const notifier = createNotifier(options.accounts);
  const guard = new ConnectionGuard(limits, log);
  const deps = { accounts: options.accounts, log };
  const handlers: ImapServerHandlers = {
    onAuth: makeOnAuth({ ...deps, throttle: new LoginThrottle() }),
    onList: makeOnList(deps),
    onLsub: makeOnLsub(deps),
    onStatus: makeOnStatus(deps),
    onOpen: makeOnOpen(deps),
    onFetch: makeOnFetch(deps),
    onSearch: makeOnSearch(deps),
    onStore: makeOnStore(deps),
    onCopy: makeOnCopy(deps),
    onMove: makeOnMove(deps),
    onExpunge: makeOnExpunge(deps),
    onAppend: makeOnAppend(deps),
    ...makeFolderHandlers(deps),
  };
  const patched: PatchedServerOptions = {
    maxCommandLiterals: limits.maxMessageSize + COMMAND_LITERALS_SLACK,
    proxyLog: log,
    refreshSelected: makeRefreshSelected(deps),
    claimArrivals: makeClaimArrivals(),
    appendMessages: appendFor,
    spoolDir: options.spoolDir,
    openCatenateUrl,
    folderExists,
    searchSelected,
    resyncSelected: makeResyncSelected(deps),
  };
  return (secure, compress) => {
    const server = createCoreServer({
      secure,
      // COMPRESS=DEFLATE (RFC 4978), imap-core's own: deflating costs CPU that only a network repays
      enableCompression: compress,
      key: options.certificate.key,
      cert: options.certificate.cert,
      minVersion: 'TLSv1.2',
      // STARTTLS is offered but not required: without this imap-core announces LOGINDISABLED and
      // refuses LOGIN in the clear, and clients set up with "connection security: none" on
      // loopback would stop working
      ignoreSTARTTLS: true,
      // one certificate whatever name a client asks for; a secure imap-core server without an
      // SNICallback fails every handshake that carries a server name
      SNICallback: (_servername: unknown, callback: (err: Error | null) => void) => callback(null),
      // Nagle's algorithm made large bodies, written in pieces, 40x slower
      noDelay: true,
      id: { name: 'imap-cache-proxy', version: options.version },
      // a STORE that names a message another session expunged is not refused (RFC 2180 4.2.1;
      // Dovecot answers OK too)
      allowStoreExpunged: true,
      // imap-core picks a joke for LOGOUT's OK unless it is given texts
      logoutMessages: ['LOGOUT completed'],
      maxMessage: limits.maxMessageSize,
      // a longer line is answered `* BAD Command line too long` and skipped up to its end
      maxLineLength: limits.maxLineLength,
      socketTimeout: limits.idleTimeoutMs,
      skipFetchLog: true,
      logger: imapCoreLogger(log),
      closeTimeout: 1000,
      onConnect: connectCheck((session) => guard.admit(session)),
      onClose: (session: ImapSession, done: () => void) => {
        guard.closed(session);
        stateOf(session).closed(session.id);
        done();
      },
      ...patched,
    }, handlers, notifier);
    server.on('error', (err) => logConnectionError(log, err, secure));
    return server;
  };
}

async function listen(server: ImapCoreServer, at: { host: string; port: number }): Promise<{ host: string; port: number }> {
  server.listen(at.port, at.host);
  await Promise.race([
    once(server.server, 'listening'),
    once(server.server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  const address = server.server.address() as AddressInfo;
  return { host: address.address, port: address.port };
}

/**
 * Stops accepting and ends every session with BYE now (imap-core would wait its closeTimeout
 * first); a client that does not read what is still queued for it is cut off shortly after.
 */
function closeServer(server: ImapCoreServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    const open = [...server.connections];
    for (const connection of open) {
      connection.send('* BYE The proxy is shutting down');
      connection.close();
    }
    setTimeout(() => {
      for (const connection of open) connection.session?.socket.destroy();
    }, SHUTDOWN_FLUSH_MS).unref();
  });
}

/**
 * A client connection failed. A failed TLS handshake is most often a client that does not (yet)
 * trust the local certificate: one line with that hint, without a stack.
 */
function logConnectionError(log: Logger, err: Error & { code?: string; meta?: { message?: string } }, secure: boolean): void {
  if (err.code === 'TLSError' || /initiating TLS/.test(err.message)) {
    const reason = err.meta?.message ?? err.message;
    log.info({ secure, reason }, 'TLS handshake with a client failed: a client that does not trust the proxy certificate yet gives up like this (see README, "Thunderbird")');
    return;
  }
  log.warn({ err, secure }, 'client connection error');
}
