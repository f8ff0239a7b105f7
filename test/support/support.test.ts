// Self-test of the test-support layer against a real Dovecot and real clients.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { ALL_KINDS, bigMessage, corpusFolders, generateCorpus, type CorpusMessage } from './corpus.js';
import { withDovecot } from './dovecot.js';
import { createFolder, deliver, folderDir } from './maildir.js';

const FOLDERS = 'INBOX:40,Sent:15,Archive/2024:15,Entwürfe:10,Lists/dev-list:10,Trash:0';
const corpus = (startIndex = 0, messages = 59) => generateCorpus({ seed: 1, messages, startIndex, folders: FOLDERS, bigFraction: 0 });
const big = bigMessage({ sizeMb: 20, seed: 7, folder: 'Archive/2024' });

const sha = (chunks: Iterable<Buffer>) => chunks2hash(chunks, false);
// Dovecot serves a bare-LF message with CRLF line ends.
const crlf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
function chunks2hash(chunks: Iterable<Buffer>, toCrlf: boolean): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(toCrlf ? crlf(c) : c);
  return h.digest('hex');
}

const d = await withDovecot({ tls: true, rawlog: true });
const expected = [...corpus(), big];
for (const f of corpusFolders(FOLDERS)) await createFolder(d.mailDir(), f);
const delivered = await deliver(d.mailDir(), expected);

function client(): ImapFlow {
  return new ImapFlow({
    host: d.host, port: d.port, secure: false, auth: { user: 'test', pass: 'pass' }, logger: false,
    tls: { ca: readFileSync(d.certPath!) }, // STARTTLS against the self-signed cert
  });
}

async function withClient<T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = client();
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout();
  }
}

test('corpus: deterministic, exact sizes, every kind, unique Message-IDs, CRLF', () => {
  const again = [...corpus()];
  assert.equal(again.length, 59);
  assert.deepEqual(again.map((m) => sha(m.chunks())), expected.slice(0, 59).map((m) => sha(m.chunks())));
  assert.deepEqual(new Set(again.map((m) => m.kind)), new Set(ALL_KINDS));
  assert.deepEqual(new Set(again.flatMap((m) => m.flags!)),
    new Set(['\\Seen', '\\Answered', '\\Flagged', '\\Draft', '$Forwarded', 'NonJunk']));
  assert.equal(new Set(expected.map((m) => m.messageId)).size, expected.length);
  for (const m of again) {
    const bytes = Buffer.concat([...m.chunks()]);
    assert.equal(bytes.length, m.size);
    const bareLf = bytes.toString('latin1').replace(/\r\n/g, '').includes('\n');
    assert.equal(bareLf, m.kind === 'bare-lf', `message ${m.index} (${m.kind})`);
  }
  const header = Buffer.concat([...again.find((m) => m.kind === 'header-only')!.chunks()]).toString();
  assert.ok(!header.includes('\r\n\r\n'), 'header-only message has no blank line');
});

test('corpus: big messages are streamed in chunks and reproducible', () => {
  let n = 0;
  for (const c of big.chunks()) {
    assert.ok(c.length <= 1.1 * 1024 * 1024, `chunk of ${c.length} bytes`);
    n += c.length;
  }
  assert.equal(n, big.size);
  assert.ok(big.size > 20 * 1024 * 1024);
  assert.equal(sha(big.chunks()), sha(big.chunks()));
  const withBig = [...generateCorpus({ messages: 200, bigFraction: 0.05, bigSizeMb: 0.2, seed: 3 })];
  const bigOnes = withBig.filter((m) => m.kind === 'big');
  // evenly spread over the indices after the first ALL_KINDS.length (those show every kind)
  assert.ok(Math.abs(bigOnes.length - (200 - ALL_KINDS.length) * 0.05) < 1, `${bigOnes.length} big`);
  for (const m of bigOnes) assert.equal([...m.chunks()].reduce((s, c) => s + c.length, 0), m.size);
});

test('maildir: folders in Maildir++ with modified UTF-7 names, subscriptions in Dovecot 2.3 format', () => {
  assert.equal(delivered.messages, 60);
  assert.equal(delivered.bytes, expected.reduce((s, m) => s + m.size, 0));
  assert.equal(folderDir(d.mailDir(), 'Entwürfe'), path.join(d.mailDir(), '.Entw&APw-rfe'));
  assert.ok(existsSync(path.join(d.mailDir(), '.Archive.2024', 'maildirfolder')));
  const subs = readFileSync(path.join(d.mailDir(), 'subscriptions'), 'utf8');
  assert.equal(subs, 'V\t2\n\nArchive\t2024\nEntw&APw-rfe\nLists\tdev-list\nSent\nTrash\n');
});

test('dovecot serves every delivered message byte for byte, with flags and INTERNALDATE', async () => {
  await withClient(async (c) => {
    const names = (await c.list()).map((l) => l.path).sort();
    assert.deepEqual(names, ['Archive', 'Archive/2024', 'Entwürfe', 'INBOX', 'Lists', 'Lists/dev-list', 'Sent', 'Trash']);
    for (const folder of corpusFolders(FOLDERS)) {
      const want = expected.filter((m) => m.folder === folder);
      const status = await c.status(folder, { messages: true });
      assert.equal(status ? status.messages : undefined, want.length, `${folder} message count`);
      if (!want.length) continue;
      const lock = await c.getMailboxLock(folder);
      try {
        const got = await c.fetchAll('1:*', { uid: true, flags: true, internalDate: true, size: true });
        assert.equal(got.length, want.length);
        // UIDs follow delivery order
        for (const [i, msg] of got.entries()) await compare(c, msg.uid, want[i], msg);
      } finally {
        lock.release();
      }
    }
  });
});

async function compare(c: ImapFlow, uid: number, m: CorpusMessage, got: { flags?: Set<string>; internalDate?: Date | string; size?: number }) {
  const label = `${m.folder} uid ${uid} #${m.index} (${m.kind})`;
  assert.deepEqual([...got.flags!].filter((f) => f !== '\\Recent').sort(), [...m.flags!].sort(), `${label} flags`);
  assert.equal(new Date(got.internalDate!).getTime(), m.internalDate.getTime(), `${label} INTERNALDATE`);
  assert.equal(got.size, m.vsize, `${label} RFC822.SIZE`);
  let served: string;
  if (m.size < 1 << 20) {
    const one = await c.fetchOne(String(uid), { source: true }, { uid: true });
    // biome-ignore lint/complexity/useOptionalChain: fetchOne gives false, not undefined, when nothing came
    assert.ok(one && one.source, `${label} fetched`);
    served = sha([one.source]);
  } else {
    const dl = await c.download(String(uid), undefined, { uid: true });
    const h = createHash('sha256');
    for await (const chunk of dl.content!) h.update(chunk as Buffer);
    served = h.digest('hex');
  }
  assert.equal(served, chunks2hash(m.chunks(), m.kind === 'bare-lf'), `${label} BODY[]`);
}

test('deliver while Dovecot runs: new/ mail shows up as \\Recent with the next UIDs', async () => {
  await withClient(async (c) => {
    const before = await c.status('INBOX', { messages: true, uidNext: true });
    const more = [...corpus(1000, 5)].map((m) => ({ ...m, folder: 'INBOX' }));
    await deliver(d.mailDir(), more, { newDir: true });
    const lock = await c.getMailboxLock('INBOX');
    try {
      const got = await c.fetchAll(`${before ? before.uidNext : '*'}:*`, { uid: true, flags: true, source: true }, { uid: true });
      assert.equal(got.length, 5);
      for (const [i, g] of got.entries()) {
        assert.ok(g.flags!.has('\\Recent'));
        assert.equal(sha([g.source!]), chunks2hash(more[i].chunks(), more[i].kind === 'bare-lf'));
      }
    } finally {
      lock.release();
    }
  });
});

test('setUidValidity changes UIDVALIDITY', async () => {
  const uv = async () => withClient(async (c) => {
    const s = await c.status('Archive/2024', { uidValidity: true });
    return s ? s.uidValidity : undefined;
  });
  const old = await uv();
  await d.setUidValidity('Archive/2024', 4242);
  assert.notEqual(old, 4242n);
  assert.equal(await uv(), 4242n);
});

test('python imaplib: LOGIN, SELECT, FETCH', async () => {
  const py = `import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('test', 'pass')
typ, data = m.select('"Entw&APw-rfe"')
assert typ == 'OK', data
print(data[0].decode())
typ, data = m.fetch('1', '(UID)')
assert typ == 'OK', data
print(data[0].decode())
m.logout()`;
  const { stdout } = await promisify(execFile)('python3', ['-c', py, String(d.port)]);
  const want = expected.filter((m) => m.folder === 'Entwürfe').length;
  assert.match(stdout, new RegExp(`^${want}\\n1 \\(UID 1\\)\\n$`));
});

test('implicit TLS port answers with a greeting', async () => {
  const c = new ImapFlow({
    host: d.host, port: d.tlsPort!, secure: true, auth: { user: 'test', pass: 'pass' }, logger: false,
    tls: { ca: readFileSync(d.certPath!) },
  });
  await c.connect();
  assert.ok(c.secureConnection);
  await c.logout();
});

test('stop() closes the port, start() brings back the same port and state', async () => {
  await d.stop();
  await assert.rejects(new Promise((resolve, reject) => {
    net.connect(d.port, d.host).once('connect', resolve).once('error', reject);
  }), /ECONNREFUSED/);
  await d.start();
  const n = await withClient(async (c) => {
    const s = await c.status('INBOX', { messages: true });
    return s ? s.messages : undefined;
  });
  assert.equal(n, expected.filter((m) => m.folder === 'INBOX').length + 5);
});

test('session stats: body_count of finished sessions, raw logs', async () => {
  await d.waitSessionsClosed();
  const stats = await d.sessionStats();
  assert.ok(stats.length >= 5);
  assert.ok(stats.every((s) => s.user === 'test' && s.in > 0 && s.out > 0));
  // 59 single fetches + the 20 MB download in 64 KiB partial fetches + 5 new ones
  assert.ok((await d.bodyCount()) >= 65, `bodyCount ${await d.bodyCount()}`);
  assert.ok(stats.some((s) => s.bodyBytes > 20 * 1024 * 1024));
  assert.ok(readdirSync(d.rawlogDir!).some((f) => f.endsWith('.in')));
});
