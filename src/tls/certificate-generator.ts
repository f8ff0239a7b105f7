import { generate } from 'selfsigned';
import { CERTIFICATE_VALIDITY_YEARS } from '../model/limits.js';

/** What the generator prints (JSON on stdout): the PEMs of a new self-signed certificate and its key. */
export interface GeneratedPems {
  cert: string;
  private: string;
}

/** Child process entry (local-certificate.ts): generates a certificate for localhost, prints it, ends. */
async function generateLocalhostCertificate(): Promise<GeneratedPems> {
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate);
  notAfterDate.setFullYear(notAfterDate.getFullYear() + CERTIFICATE_VALIDITY_YEARS);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, private: pems.private };
}

process.stdout.write(JSON.stringify(await generateLocalhostCertificate()));
