import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { imapCoreLogger, type Logger } from '../log.js';
import { MAX_APPEND_SIZE } from '../model/limits.js';
import type { Accounts } from '../sync/accounts.js';
import { makeOnAppend } from './handlers/on-append.js';
import { makeOnAuth } from './handlers/on-auth.js';
import { makeOnCopy, makeOnMove } from './handlers/on-copy.js';
import { makeOnExpunge } from './handlers/on-expunge.js';
import { makeFolderHandlers } from './handlers/on-folders.js';
import { makeOnStore } from './handlers/on-store.js';
import { makeOnFetch } from './handlers/on-fetch.js';
import { makeOnList, makeOnLsub } from './handlers/on-list.js';
import { makeOnOpen } from './handlers/on-open.js';
import { makeOnSearch } from './handlers/on-search.js';
import { makeOnStatus } from './handlers/on-status.js';
import { IMAPServer, type ImapSession } from './imap-core.js';
import { installAnswerOverrides } from './responses.js';
import { installSearchCapture } from './search-query.js';
import { sessionClosed } from './session-account.js';
import { createNotifier } from './notifier.js';

export interface ImapServerOptions {
  accounts: Accounts;
  listen: { host: string; port: number };
  log: Logger;
  version: string;
}

export interface RunningImapServer {
  address: { host: string; port: number };
  connectionCount(): number;
  close(): Promise<void>;
}

/** The IMAP server clients talk to: imap-core with the proxy's handlers. */
export async function startImapServer(options: ImapServerOptions): Promise<RunningImapServer> {
  const log = options.log.child({ component: 'imap' });
  installAnswerOverrides();
  installSearchCapture();
  const server = new IMAPServer({
    secure: false,
    // TLS for clients is not configured: no STARTTLS, and LOGIN is allowed in the clear on loopback
    disableSTARTTLS: true,
    // Nagle's algorithm made large bodies, written in pieces, 40x slower
    noDelay: true,
    id: { name: 'imap-cache-proxy', version: options.version },
    maxMessage: MAX_APPEND_SIZE,
    skipFetchLog: true,
    logger: imapCoreLogger(log),
    closeTimeout: 1000,
    onClose: (session: ImapSession, done: () => void) => {
      sessionClosed(session);
      done();
    },
  });
  server.notifier = createNotifier(options.accounts);
  const deps = { accounts: options.accounts, log };
  server.onAuth = makeOnAuth(deps);
  server.onList = makeOnList(deps);
  server.onLsub = makeOnLsub(deps);
  server.onStatus = makeOnStatus(deps);
  server.onOpen = makeOnOpen(deps);
  server.onFetch = makeOnFetch(deps);
  server.onSearch = makeOnSearch(deps);
  server.onStore = makeOnStore(deps);
  server.onCopy = makeOnCopy(deps);
  server.onMove = makeOnMove(deps);
  server.onExpunge = makeOnExpunge(deps);
  server.onAppend = makeOnAppend(deps);
  Object.assign(server, makeFolderHandlers(deps));
  server.on('error', (err) => log.warn({ err }, 'client connection error'));

  server.listen(options.listen.port, options.listen.host);
  await Promise.race([
    once(server.server, 'listening'),
    once(server.server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  const address = server.server.address() as AddressInfo;
  return {
    address: { host: address.address, port: address.port },
    connectionCount: () => server.connections.size,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
