import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { CacheStore } from '../cache/cache-store.js';
import type { Logger } from '../log.js';
import type { Accounts } from '../sync/accounts.js';
import { cacheStats, clearCache } from './cache-admin.js';
import { ADMIN_PROTOCOL_VERSION, type AdminRequest, type AdminResponse, type StatusResult } from './protocol.js';
import { MAX_ADMIN_REQUEST_BYTES } from '../model/limits.js';


export interface AdminContext {
  store: CacheStore;
  accounts: Accounts;
  status(): Promise<StatusResult>;
  log: Logger;
}

export interface RunningAdminServer {
  path: string;
  close(): Promise<void>;
}

/**
 * The admin interface of a running proxy: a Unix socket, mode 0600 (only the user who runs the
 * proxy), one JSON request per line, one JSON response per line.
 */
export async function startAdminServer(path: string, context: AdminContext): Promise<RunningAdminServer> {
  // the data directory is locked by LevelDB: a socket file left here belongs to a proxy that is gone
  await unlink(path).catch(() => undefined);
  const server = net.createServer((socket) => serve(socket, context));
  const previousUmask = process.umask(0o177); // born 0600: no window where others may connect
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(previousUmask);
  }
  await chmod(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

function serve(socket: net.Socket, context: AdminContext): void {
  socket.on('error', () => undefined);
  const lines = createInterface({ input: socket, crlfDelay: Infinity });
  let received = 0;
  socket.on('data', (data: Buffer) => {
    received += data.length;
    if (received > MAX_ADMIN_REQUEST_BYTES) socket.destroy();
  });
  lines.once('line', (line) => {
    answer(line, context).then(
      (response) => socket.end(`${JSON.stringify(response)}\n`),
      () => socket.destroy(),
    );
  });
}

async function answer(line: string, context: AdminContext): Promise<AdminResponse> {
  const fail = (code: string, message: string): AdminResponse => ({ v: ADMIN_PROTOCOL_VERSION, ok: false, error: { code, message } });
  let request: AdminRequest;
  try {
    request = JSON.parse(line) as AdminRequest;
  } catch {
    return fail('BAD_REQUEST', 'the request is not JSON');
  }
  if (request.v !== ADMIN_PROTOCOL_VERSION) {
    return fail('VERSION', `admin protocol version ${String(request.v)} is not ${ADMIN_PROTOCOL_VERSION}; use the same imap-cache-proxy version as the running proxy`);
  }
  try {
    switch (request.command) {
      case 'stats':
        return { v: ADMIN_PROTOCOL_VERSION, ok: true, result: await cacheStats(context.store, request.account) };
      case 'clear': {
        const { result, cleared } = await clearCache(context.store, request.scope ?? {});
        for (const { account, folders } of cleared) context.accounts.get(account)?.cacheCleared(folders, request.scope?.folder === undefined);
        context.log.info({ scope: request.scope, ...result }, 'cache cleared');
        return { v: ADMIN_PROTOCOL_VERSION, ok: true, result };
      }
      case 'status':
        return { v: ADMIN_PROTOCOL_VERSION, ok: true, result: await context.status() };
      case 'verify': {
        const result = await context.store.verify(request.repair === true);
        if (result.repaired && result.problemCount > 0) for (const account of context.accounts.list()) account.sectionsDropped();
        context.log.info({ problems: result.problemCount, orphanChunks: result.orphanChunks, repaired: result.repaired }, 'cache verified');
        return { v: ADMIN_PROTOCOL_VERSION, ok: true, result };
      }
      default:
        return fail('UNKNOWN_COMMAND', `unknown admin command ${String((request as { command?: unknown }).command)}`);
    }
  } catch (err) {
    context.log.warn({ err, command: request.command }, 'admin command failed');
    return fail('FAILED', (err as Error).message);
  }
}
