import { loadStartConfig } from '../config/load.js';
import type { StartConfig } from '../config/schema.js';
import { createLogger } from '../log.js';
import type { RunningProxy } from '../main.js';
import { isProxyError } from '../model/errors.js';
import { SHUTDOWN_DEADLINE_MS } from '../model/limits.js';
import { loadClientCertificate } from '../tls/local-certificate.js';

/**
 * `imap-cache-proxy start`: runs until SIGTERM / SIGINT; returns the exit code, and the caller
 * exits with it (timers of sessions that were cut off would keep the process alive).
 */
export async function runStart(flags: Record<string, unknown>): Promise<number> {
  let config: StartConfig;
  try {
    config = await loadStartConfig({ flags, env: process.env });
  } catch (err) {
    process.stderr.write(`imap-cache-proxy: ${(err as Error).message}\n`);
    return isProxyError(err, 'CONFIG_INVALID') ? 2 : 1;
  }
  const log = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY });
  // handlers first: a stop signal that comes while starting is not lost, nor is a reload
  // (SIGHUP would otherwise end the process)
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let proxy: RunningProxy | undefined;
  let reloadWanted = false;
  const reload = () => {
    if (!proxy) {
      reloadWanted = true;
      return;
    }
    const running = proxy;
    loadStartConfig({ flags, env: process.env })
      .then((next) => running.reload(next))
      .catch((err: unknown) => log.error({ err }, 'configuration not reloaded'));
  };
  process.on('SIGHUP', reload);
  try {
    // a first start generates the certificate in a child process while this one loads the server
    const certificate = loadClientCertificate(config, log);
    certificate.catch(() => undefined); // awaited by startProxy, or the start failed before
    const { startProxy } = await import('../main.js');
    proxy = await startProxy(config, log, { certificate });
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`imap-cache-proxy: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  if (reloadWanted) reload();
  const signal = await stopped;
  process.off('SIGHUP', reload);
  log.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    log.warn({ afterMs: SHUTDOWN_DEADLINE_MS }, 'shutdown not finished in time: exiting anyway');
    process.exit(0);
  }, SHUTDOWN_DEADLINE_MS);
  await proxy.close();
  clearTimeout(deadline);
  return 0;
}
