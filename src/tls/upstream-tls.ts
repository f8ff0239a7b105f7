import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import type { UpstreamTls } from '../model/types.js';
import { parseCertificate, readPemFile } from './pem.js';

/**
 * How upstream's certificate is checked: against the system's CAs, against the certificates
 * of --upstream-ca (read once, here), or not at all with --upstream-insecure, said loudly.
 * `account` names the configured account these settings are of, if any.
 */
export async function loadUpstreamTls(settings: { upstreamCa?: string; upstreamInsecure: boolean; account?: string }, log: Logger): Promise<UpstreamTls> {
  if (settings.upstreamInsecure) {
    log.warn(
      { setting: 'upstream-insecure', ...(settings.account !== undefined ? { account: settings.account } : {}) },
      'upstream certificate verification is OFF: anyone between the proxy and the server can pose as the server and read every password and message; trust its certificate with --upstream-ca FILE instead',
    );
    return { rejectUnauthorized: false };
  }
  const path = settings.upstreamCa;
  if (path === undefined) return { rejectUnauthorized: true };
  const what = `upstream CA file (upstream-ca${settings.account !== undefined ? ` of account "${settings.account}"` : ''})`;
  const ca = await readPemFile(path, what);
  if (ca === undefined) throw new ProxyError('CONFIG_INVALID', `the ${what} ${path} does not exist`);
  parseCertificate(ca, path, what);
  return { ca, rejectUnauthorized: true };
}
