import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { generate } from 'selfsigned';
import { isProxyError } from '../../src/model/errors.js';
import { loadLocalCertificate, type LocalCertificatePaths } from '../../src/tls/local-certificate.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'icp-cert-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A logger whose lines are kept, as objects. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

let pairs = 0;
const newPaths = (): LocalCertificatePaths => {
  const base = join(dir, `pair-${++pairs}`);
  return { certPath: join(base, 'cert.pem'), keyPath: join(base, 'key.pem') };
};

/** Asserts a CONFIG_INVALID rejection whose message contains every string. */
async function assertInvalid(promise: Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isProxyError(err, 'CONFIG_INVALID'), `not a CONFIG_INVALID ProxyError: ${String(err)}`);
    for (const part of parts) assert.ok(err.message.includes(part), `${JSON.stringify(part)} not in: ${err.message}`);
    return true;
  });
}

describe('loadLocalCertificate', () => {
  test('generates a pair where neither file exists, then reads the same pair back', async () => {
    const paths = newPaths();
    const { log, lines } = capturingLogger();
    const generated = await loadLocalCertificate(paths, log);
    const certificate = new X509Certificate(await readFile(paths.certPath));
    assert.equal(generated.fingerprint, certificate.fingerprint256);
    assert.equal(generated.key, await readFile(paths.keyPath, 'utf8'));
    assert.ok(certificate.checkPrivateKey(createPrivateKey(generated.key)));
    assert.equal(certificate.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal((await stat(paths.keyPath)).mode & 0o777, 0o600);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['fingerprint'], certificate.fingerprint256);

    const again = capturingLogger();
    assert.deepEqual(await loadLocalCertificate(paths, again.log), generated);
    assert.equal(again.lines.length, 0);
  });

  test('one file without the other, or the key of another certificate, is an error naming the files; nothing is overwritten', async () => {
    const source = newPaths();
    const { log } = capturingLogger();
    await loadLocalCertificate(source, log);
    const paths = newPaths();
    await loadLocalCertificate(paths, log);
    await rm(paths.keyPath);
    const certText = await readFile(paths.certPath, 'utf8');
    await assertInvalid(loadLocalCertificate(paths, log), `${paths.keyPath} does not exist but ${paths.certPath} does`);
    assert.equal(await readFile(paths.certPath, 'utf8'), certText);

    // a key that belongs to another certificate
    await copyFile(source.keyPath, paths.keyPath);
    await assertInvalid(loadLocalCertificate(paths, log), `${paths.keyPath} is not the private key of ${paths.certPath}`);
  });

  test('files that are not PEM are errors naming them', async () => {
    const { log } = capturingLogger();
    const paths = newPaths();
    await loadLocalCertificate(paths, log);
    await writeFile(paths.keyPath, 'not a key');
    await assertInvalid(loadLocalCertificate(paths, log), `TLS key (tls-key) ${paths.keyPath} is not a PEM private key`);
    await writeFile(paths.certPath, 'not a certificate');
    await assertInvalid(loadLocalCertificate(paths, log), `TLS certificate (tls-cert) ${paths.certPath} is not a PEM certificate`);
  });

  test('an expired certificate is used, with a warning saying how to get a new one', async () => {
    const paths = newPaths();
    const { log } = capturingLogger();
    await loadLocalCertificate(paths, log); // creates the directory
    const expired = await generate([{ name: 'commonName', value: 'localhost' }], {
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.UTC(2020, 0, 1)),
      notAfterDate: new Date(Date.UTC(2021, 0, 1)),
    });
    await writeFile(paths.certPath, expired.cert);
    await writeFile(paths.keyPath, expired.private);
    const warned = capturingLogger();
    await loadLocalCertificate(paths, warned.log);
    assert.equal(warned.lines[0]?.['level'], 40);
    assert.match(String(warned.lines[0]?.['msg']), /has expired: remove it and its key/);
  });
});
