import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import type { GeneratedPems } from './certificate-generator.js';
import { parseCertificate, readPemFile } from './pem.js';

/** The certificate and key the proxy shows its clients (PEM). */
export interface LocalCertificate {
  cert: string;
  key: string;
  /** SHA-256 of the certificate, colon-separated hex, as mail clients show it. */
  fingerprint: string;
}

export interface LocalCertificatePaths {
  certPath: string;
  keyPath: string;
}

/**
 * Reads the certificate and key for clients' TLS from their files. On first start, when
 * neither file exists, takes over the pair at `adoptFrom` if there is one (clients already trust
 * it), else generates a self-signed pair for localhost, 127.0.0.1 and ::1 there.
 */
export async function loadLocalCertificate(paths: LocalCertificatePaths, log: Logger, adoptFrom?: LocalCertificatePaths): Promise<LocalCertificate> {
  const [cert, key] = await Promise.all([
    readPemFile(paths.certPath, 'TLS certificate (tls-cert)'),
    readPemFile(paths.keyPath, 'TLS key (tls-key)'),
  ]);
  if (cert === undefined && key === undefined) {
    const earlier = adoptFrom && (await readPair(adoptFrom));
    if (!earlier) return generateLocalCertificate(paths, log);
    await writePair(paths, earlier);
    log.info({ from: adoptFrom.certPath, cert: paths.certPath }, 'the TLS certificate for clients now lives in the data directory; the one an earlier version generated is taken over');
    return loadLocalCertificate(paths, log);
  }
  if (cert === undefined || key === undefined) {
    // either file may be the user's own: a pair is generated only where both are missing
    const [missing, present] = cert === undefined ? [paths.certPath, paths.keyPath] : [paths.keyPath, paths.certPath];
    throw new ProxyError(
      'CONFIG_INVALID',
      `${missing} does not exist but ${present} does: correct tls-cert / tls-key, or remove ${present} to have a new pair generated`,
    );
  }
  const certificate = parseCertificate(cert, paths.certPath, 'TLS certificate (tls-cert)');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ProxyError('CONFIG_INVALID', `the TLS key (tls-key) ${paths.keyPath} is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ProxyError('CONFIG_INVALID', `${paths.keyPath} is not the private key of ${paths.certPath}`);
  }
  if (Date.parse(certificate.validTo) < Date.now()) {
    log.warn({ cert: paths.certPath, validTo: certificate.validTo }, 'the TLS certificate for clients has expired: remove it and its key to have a new pair generated');
  }
  return { cert, key, fingerprint: certificate.fingerprint256 };
}

/** The certificate of `start`'s settings (tls-cert, tls-key, and a pair to take over). */
export function loadClientCertificate(
  config: { tlsCert: string; tlsKey: string; tlsAdoptFrom?: LocalCertificatePaths | undefined },
  log: Logger,
): Promise<LocalCertificate> {
  return loadLocalCertificate({ certPath: config.tlsCert, keyPath: config.tlsKey }, log, config.tlsAdoptFrom);
}

/** Both files of a pair, or nothing when either is missing. */
async function readPair(paths: LocalCertificatePaths): Promise<{ cert: string; key: string } | undefined> {
  const [cert, key] = await Promise.all([readPemFile(paths.certPath, 'TLS certificate'), readPemFile(paths.keyPath, 'TLS key')]);
  return cert !== undefined && key !== undefined ? { cert, key } : undefined;
}

async function writePair(paths: LocalCertificatePaths, pair: { cert: string; key: string }): Promise<void> {
  try {
    for (const dir of new Set([dirname(paths.certPath), dirname(paths.keyPath)])) await mkdir(dir, { recursive: true, mode: 0o700 });
    // 'wx': never replace a file that appeared meanwhile
    await writeFile(paths.keyPath, pair.key, { mode: 0o600, flag: 'wx' });
    await writeFile(paths.certPath, pair.cert, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw new ProxyError(
      'CONFIG_INVALID',
      `cannot write a TLS certificate and key to ${paths.certPath} and ${paths.keyPath}: ${(err as Error).message}; give tls-cert and tls-key in a writable directory`,
      { cause: err },
    );
  }
}

async function generateLocalCertificate(paths: LocalCertificatePaths, log: Logger): Promise<LocalCertificate> {
  const pems = await generateInChildProcess();
  await writePair(paths, { cert: pems.cert, key: pems.private });
  const fingerprint = new X509Certificate(pems.cert).fingerprint256;
  log.info(
    { cert: paths.certPath, key: paths.keyPath, fingerprint },
    'generated a self-signed TLS certificate for localhost; a mail client asks once whether to trust it: compare its SHA-256 fingerprint with this one',
  );
  return { cert: pems.cert, key: pems.private, fingerprint };
}

/**
 * Runs certificate-generator.js in a child process: the X.509 libraries it loads weigh about 17
 * MB of RssAnon and 6 MB of V8 heap, which every full collection of the proxy would otherwise
 * mark for the rest of its life. A worker thread was tried: its memory went back to the heap but
 * not to the system (about 20 MB more RssAnon for as long as the proxy ran after a first start).
 */
function generateInChildProcess(): Promise<GeneratedPems> {
  const script = fileURLToPath(new URL('./certificate-generator.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`the certificate generator failed: ${stderr.trim() || err.message}`, { cause: err }));
      try {
        resolve(JSON.parse(stdout) as GeneratedPems);
      } catch (parseErr) {
        reject(new Error('the certificate generator printed no certificate', { cause: parseErr }));
      }
    });
  });
}
