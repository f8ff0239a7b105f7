// TLS: the certificate generated for clients, implicit TLS and STARTTLS with real clients, LOGIN
// without STARTTLS on the plain port, and verification of upstream's certificate.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { spawnProxy, startTestProxy } from '../support/proxy.js';
import { RawImapClient } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const fixtures = path.resolve(import.meta.dirname, '../../../test/fixtures');

const dovecot = await withDovecot({ tls: true });
const dovecotCa = dovecot.certPath as string;
const message = Buffer.from('From: a@example.org\r\nTo: test@example.org\r\nSubject: over TLS\r\n\r\nHello through TLS\r\n');
await deliver(dovecot.mailDir(), [{ folder: 'INBOX', internalDate: new Date(Date.UTC(2025, 0, 1)), size: message.length, chunks: () => [message] }]);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const tmp = await tempDir('imapcp-tls-');

/** The JSON log lines of a spawned proxy. */
const logLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** Logs in with imapflow, fetches the first message's bytes, logs out. */
async function fetchWithImapflow(options: ConstructorParameters<typeof ImapFlow>[0]): Promise<{ secure: boolean; source: Buffer }> {
  const client = new ImapFlow({ auth: { user: 'test', pass: 'pass' }, logger: false, disableAutoIdle: true, ...options });
  await client.connect();
  try {
    const secure = (client as unknown as { secureConnection: boolean }).secureConnection;
    await client.mailboxOpen('INBOX', { readOnly: true });
    const fetched = await client.fetchOne('1', { source: true });
    return { secure, source: fetched ? (fetched.source as Buffer) : Buffer.alloc(0) };
  } finally {
    await client.logout();
  }
}

async function pythonSession(mode: 'ssl' | 'starttls', host: string, port: number, cafile: string) {
  const { stdout } = await run('python3', [path.join(fixtures, 'imaplib-tls.py'), mode, host, String(port), 'test', 'pass', cafile]);
  return JSON.parse(stdout) as { tls: string; login: string; exists: number; rfc822: string; logout: string };
}

async function loginAnswer(port: number): Promise<string> {
  const client = await RawImapClient.connect(port);
  try {
    return (await client.command('LOGIN test pass')).tagged;
  } finally {
    client.close();
  }
}

describe('the certificate for clients', () => {
  test('is generated on first start into the configured paths, and reused after', async () => {
    const certPath = path.join(tmp, 'generated', 'certs', 'cert.pem');
    const keyPath = path.join(tmp, 'generated', 'private', 'key.pem');
    const args = ['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--upstream-ca', dovecotCa, '--data', path.join(tmp, 'generated', 'data')];
    args.push('--tls-cert', certPath, '--tls-key', keyPath);

    // a login before each stop: SIGTERM is handled once the start has completed
    const first = await spawnProxy(args);
    assert.match(await loginAnswer(first.port), /^T\d+ OK/);
    assert.equal(await first.stop(), 0);
    const certificate = new X509Certificate(await readFile(certPath));
    assert.equal(certificate.subject, 'CN=localhost');
    assert.equal(certificate.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    const years = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / (365.25 * 86_400_000);
    assert.ok(years > 4.9 && years < 5.1, `valid for ${years} years`);
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(keyPath))).mode & 0o777, 0o700);
    assert.equal((await stat(path.dirname(certPath))).mode & 0o777, 0o700);
    const generated = logLines(first.output()).find((line) => /generated a self-signed TLS certificate/.test(String(line['msg'])));
    assert.ok(generated, 'the generation is logged');
    assert.equal(generated['level'], 30);
    assert.equal(generated['cert'], certPath);
    assert.equal(generated['fingerprint'], certificate.fingerprint256);

    const second = await spawnProxy(args);
    assert.match(await loginAnswer(second.port), /^T\d+ OK/);
    assert.equal(await second.stop(), 0);
    const lines = logLines(second.output());
    assert.ok(!lines.some((line) => /generated/.test(String(line['msg']))), 'nothing generated on the second start');
    const started = lines.find((line) => line['msg'] === 'imap-cache-proxy started');
    assert.equal(started?.['tlsFingerprint'], certificate.fingerprint256);
    assert.equal(new X509Certificate(await readFile(certPath)).fingerprint256, certificate.fingerprint256);
  });
});

describe('TLS for clients', async () => {
  const proxy = await startTestProxy(dovecot, { tlsListen: true, upstreamCa: dovecotCa });
  // the certificate startTestProxy had the proxy generate, trusted as the CA
  const caFile = path.join(proxy.dataDir, 'certs', 'cert.pem');
  const ca = await readFile(caFile);
  const tlsPort = proxy.tlsPort as number;

  test('imapflow over the implicit-TLS listener, verifying the generated certificate', async () => {
    const result = await fetchWithImapflow({ host: 'localhost', port: tlsPort, secure: true, tls: { ca } });
    assert.equal(result.secure, true);
    assert.equal(sha256(result.source), sha256(message));
  });

  test('python imaplib.IMAP4_SSL over the implicit-TLS listener', async () => {
    const result = await pythonSession('ssl', '127.0.0.1', tlsPort, caFile);
    assert.match(result.tls, /^TLSv1\.[23]$/);
    assert.deepEqual({ ...result, tls: '' }, { tls: '', login: 'OK', exists: 1, rfc822: sha256(message), logout: 'BYE' });
  });

  test('a client that does not trust the certificate is refused by its own check', async () => {
    await assert.rejects(fetchWithImapflow({ host: '127.0.0.1', port: tlsPort, secure: true }), /self-signed certificate/);
  });

  test('STARTTLS on the plain port: imapflow with doSTARTTLS and python starttls()', async () => {
    const result = await fetchWithImapflow({ host: '127.0.0.1', port: proxy.port, secure: false, doSTARTTLS: true, tls: { ca } });
    assert.equal(result.secure, true);
    assert.equal(sha256(result.source), sha256(message));
    const python = await pythonSession('starttls', 'localhost', proxy.port, caFile);
    assert.deepEqual({ ...python, tls: '' }, { tls: '', login: 'OK', exists: 1, rfc822: sha256(message), logout: 'BYE' });
  });

  test('the plain port offers STARTTLS without LOGINDISABLED, and LOGIN works without it', async () => {
    const client = await RawImapClient.connect(proxy.port);
    try {
      const capability = (await client.command('CAPABILITY')).untagged.map((line) => line.toString()).join(' ');
      assert.match(capability, /\bSTARTTLS\b/);
      assert.doesNotMatch(capability, /LOGINDISABLED/);
      assert.match((await client.command('LOGIN test pass')).tagged, /^T\d+ OK/);
      assert.match((await client.command('EXAMINE INBOX')).tagged, /^T\d+ OK/);
    } finally {
      client.close();
    }
  });
});

describe('upstream certificate verification', () => {
  const imaps = `imaps://127.0.0.1:${dovecot.tlsPort}`;
  const imapStarttls = `imap://127.0.0.1:${dovecot.port}`;

  test('a self-signed upstream certificate is refused by default: NO [UNAVAILABLE], the reason in the log', async () => {
    for (const upstreamUrl of [imaps, imapStarttls]) {
      const proxy = await startTestProxy(dovecot, { upstreamUrl });
      assert.match(await loginAnswer(proxy.port), /^T\d+ NO \[UNAVAILABLE\]/, upstreamUrl);
      const failure = proxy.logs.find((line) => line['msg'] === 'login failed');
      assert.equal(failure?.['level'], 40);
      assert.match(JSON.stringify(failure?.['err']), /self-signed certificate/);
      await proxy.close();
    }
  });

  test('--upstream-ca trusts the server certificate, with imaps:// and with STARTTLS on imap://', async () => {
    for (const upstreamUrl of [imaps, imapStarttls]) {
      const proxy = await startTestProxy(dovecot, { upstreamUrl, upstreamCa: dovecotCa });
      assert.match(await loginAnswer(proxy.port), /^T\d+ OK/, upstreamUrl);
      assert.ok(!proxy.logs.some((line) => /not encrypted/.test(String(line['msg']))), 'the upstream connection is encrypted');
      await proxy.close();
    }
  });

  test('--upstream-insecure logs in without verification and warns at start', async () => {
    const proxy = await spawnProxy(['--upstream', imaps, '--upstream-insecure', '--data', path.join(tmp, 'insecure')]);
    assert.match(await loginAnswer(proxy.port), /^T\d+ OK/);
    assert.equal(await proxy.stop(), 0);
    const warning = logLines(proxy.output()).find((line) => /verification is OFF/.test(String(line['msg'])));
    assert.equal(warning?.['level'], 40);
    assert.match(String(warning?.['msg']), /read every password/);
  });

  test('an unreadable or non-PEM --upstream-ca stops the start with a message naming the file', async () => {
    const missing = path.join(tmp, 'no-such-ca.pem');
    await assert.rejects(startTestProxy(dovecot, { upstreamUrl: imaps, upstreamCa: missing }), (err: Error) => err.message.includes(missing));
    await assert.rejects(startTestProxy(dovecot, { upstreamUrl: imaps, upstreamCa: path.join(fixtures, 'imaplib-tls.py') }), /imaplib-tls\.py is not a PEM certificate/);
  });
});
