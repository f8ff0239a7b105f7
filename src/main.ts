import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startAdminServer, type AdminContext, type RunningAdminServer } from './admin/admin-server.js';
import { ADMIN_SOCKET_NAME } from './admin/protocol.js';
import { proxyStatus } from './admin/status.js';
import { CacheStore } from './cache/cache-store.js';
import { RESTART_SETTINGS } from './config/options.js';
import type { AccountConfig, StartConfig } from './config/schema.js';
import { startImapServer, type RunningImapServer } from './imap/server.js';
import type { Logger } from './log.js';
import { FRESH_BODIES_BYTES, MAX_SOCKET_PATH } from './model/limits.js';
import { isLoopback } from './model/loopback.js';
import type { AccountDirectory } from './sync/account-directory.js';
import { Accounts } from './sync/accounts.js';
import { FreshBodies } from './sync/fresh-bodies.js';
import { loadClientCertificate, loadLocalCertificate, type LocalCertificate } from './tls/local-certificate.js';
import { loadUpstreamTls } from './tls/upstream-tls.js';
import { VERSION } from './version.js';

export interface RunningProxy {
  /** Where clients connect (the real port when 0 was asked for): plain IMAP, STARTTLS offered. */
  address: { host: string; port: number };
  /** Where clients connect over implicit TLS, with --tls-listen. */
  tlsAddress?: { host: string; port: number };
  /** Applies what can change while running (SIGHUP): log level and the TLS certificate. */
  reload(config: StartConfig): Promise<void>;
  close(): Promise<void>;
}


/**
 * The composition root: loads the TLS certificates, opens the cache, starts the client-facing
 * server, and shuts all of it down in order (clients first, then upstream connections, then LevelDB).
 */
export async function startProxy(config: StartConfig, log: Logger, loading: { certificate?: Promise<LocalCertificate> } = {}): Promise<RunningProxy> {
  const startedAt = Date.now();
  const certificate = await (loading.certificate ?? loadClientCertificate(config, log));
  // what `status` shows; a reload (SIGHUP) may change it
  let tls = { cert: config.tlsCert, fingerprint: certificate.fingerprint };
  const directory = await accountDirectory(config, log);
  // created for this user only: the cache is everyone's mail
  await mkdir(config.data, { recursive: true, mode: 0o700 });
  const store = await CacheStore.open(join(config.data, 'cache'), log, { sweep: true });
  // APPENDs a stop cut off left their messages here: gone, as the commands were never answered
  const spoolDir = join(config.data, 'spool');
  await rm(spoolDir, { recursive: true, force: true });
  await mkdir(spoolDir, { mode: 0o700 });
  const accounts = new Accounts({
    directory,
    dataDir: config.data,
    store,
    freshBodies: new FreshBodies(FRESH_BODIES_BYTES),
    ...(config.prefetch !== 'off'
      ? { prefetch: { mode: config.prefetch, ...(config.prefetchMaxSize !== undefined ? { maxBodySize: config.prefetchMaxSize } : {}) } }
      : {}),
    pollIntervalMs: config.pollInterval,
    log,
  });
  let imap: RunningImapServer | undefined;
  let admin: RunningAdminServer | undefined;
  try {
    imap = await startImapServer({
      accounts,
      listen: config.listen,
      tlsListen: config.tlsListen,
      compress: config.compress,
      certificate,
      limits: {
        maxLineLength: config.maxLineLength,
        maxMessageSize: config.maxMessageSize,
        maxConnections: config.maxConnections,
        maxConnectionsPerIp: config.maxConnectionsPerIp,
        idleTimeoutMs: config.idleTimeout,
        loginTimeoutMs: config.loginTimeout,
      },
      spoolDir,
      log,
      version: VERSION,
    });
    const running = imap;
    admin = await startAdmin(join(config.data, ADMIN_SOCKET_NAME), {
      store,
      accounts,
      log: log.child({ component: 'admin' }),
      status: () =>
        proxyStatus({
          accounts,
          store,
          startedAt,
          listen: `${running.address.host}:${running.address.port}`,
          ...(running.tlsAddress ? { tlsListen: `${running.tlsAddress.host}:${running.tlsAddress.port}` } : {}),
          clients: () => running.connectionCount(),
          tls,
        }),
    });
  } catch (err) {
    await imap?.close();
    await store.close();
    throw err;
  }
  const server = imap;
  if (!isLoopback(config.listen.host)) {
    log.warn({ listen: config.listen }, 'listening beyond this machine on a plain port: passwords can cross the network in the clear; use --tls-listen and STARTTLS, or a firewall');
  }
  log.info(
    {
      listen: server.address,
      tlsListen: server.tlsAddress,
      tlsCert: config.tlsCert,
      tlsFingerprint: certificate.fingerprint,
      upstream: config.upstream?.url,
      accounts: config.accounts.map((account) => account.name),
      data: config.data,
      version: VERSION,
    },
    'imap-cache-proxy started',
  );
  let closing: Promise<void> | undefined;
  return {
    address: server.address,
    tlsAddress: server.tlsAddress,
    reload: async (next) => {
      log.level = next.logLevel;
      const renewed = await loadLocalCertificate({ certPath: next.tlsCert, keyPath: next.tlsKey }, log);
      server.updateCertificate(renewed);
      tls = { cert: next.tlsCert, fingerprint: renewed.fingerprint };
      const fixed = RESTART_SETTINGS.filter((key) => JSON.stringify(next[key as keyof StartConfig]) !== JSON.stringify(config[key as keyof StartConfig]));
      if (fixed.length) log.warn({ settings: fixed }, 'these settings change only with a restart');
      log.info({ logLevel: next.logLevel }, 'configuration reloaded: log level and TLS certificate applied');
    },
    close: () =>
      (closing ??= (async () => {
        await admin?.close();
        await server.close();
        await accounts.close();
        await store.close();
        log.info('imap-cache-proxy stopped');
      })()),
  };
}

/** The single upstream any login name goes to, or the configured accounts, each with its TLS settings read. */
async function accountDirectory(config: StartConfig, log: Logger): Promise<AccountDirectory> {
  if (config.upstream) {
    const endpoint = { ...config.upstream, tls: await loadUpstreamTls(config, log) };
    return { kind: 'passthrough', endpoint, connections: config.upstreamConnections, ...(config.prefetchBudget !== undefined ? { prefetchBudget: config.prefetchBudget } : {}) };
  }
  const route = async (account: AccountConfig) => ({
    name: account.name,
    upstreamUser: account.upstreamUser,
    connections: account.upstreamConnections,
    ...(account.prefetchBudget !== undefined ? { prefetchBudget: account.prefetchBudget } : {}),
    endpoint: { ...account.upstream, tls: await loadUpstreamTls({ ...account, account: account.name }, log) },
    ...(account.oauth ? { oauth: account.oauth } : {}),
  });
  return { kind: 'configured', accounts: await Promise.all(config.accounts.map(route)) };
}

/** The admin socket; a data directory whose path is too long for a socket runs without one. */
async function startAdmin(path: string, context: AdminContext): Promise<RunningAdminServer | undefined> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    context.log.warn({ path }, 'the data directory path is too long for the admin socket; admin commands work only with the proxy stopped');
    return undefined;
  }
  return startAdminServer(path, context);
}
