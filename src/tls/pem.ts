import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ProxyError } from '../model/errors.js';

/**
 * The text of a PEM file a setting names; undefined when there is no such file. Any other
 * failure is a CONFIG_INVALID naming the file and what it was for (`what`).
 */
export async function readPemFile(path: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProxyError('CONFIG_INVALID', `cannot read the ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The (first) certificate of a PEM text; CONFIG_INVALID naming the file when it holds none. */
export function parseCertificate(pem: string, path: string, what: string): X509Certificate {
  try {
    // X509Certificate also takes DER, which Node's TLS options do not
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" block');
    return new X509Certificate(pem);
  } catch (err) {
    throw new ProxyError('CONFIG_INVALID', `the ${what} ${path} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
}
