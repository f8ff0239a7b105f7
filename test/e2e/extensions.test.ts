// IMAP extensions the proxy offers beyond imap-core's: their answers compared with Dovecot's own.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot();
await deliver(dovecot.mailDir(), generateCorpus({ seed: 24, messages: 40, folders: 'INBOX:1' }));
const proxy = await startTestProxy(dovecot);
const connect = suiteClients();

/** An ESEARCH answer as its items (the tag correlator left out): their order is free (RFC 4731). */
function esearchItems(lines: Buffer[]): Map<string, string> | undefined {
  const line = lines.map((l) => l.toString('latin1')).find((l) => l.startsWith('* ESEARCH'));
  if (!line) return undefined;
  const words = line.replace(/^\* ESEARCH \(TAG "[^"]*"\)/, '').trim().split(' ').filter(Boolean);
  const items = new Map<string, string>();
  if (words[0] === 'UID') items.set(String(words.shift()), '');
  for (let i = 0; i + 1 < words.length; i += 2) items.set(words[i] as string, words[i + 1] as string);
  return items;
}

describe('ESEARCH (RFC 4731)', () => {
  test('SEARCH and UID SEARCH with RETURN options answer as Dovecot does', async () => {
    const clients: RawImapClient[] = [await connect(dovecot.port), await connect(proxy.port)];
    for (const client of clients) assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
    for (const search of [
      'SEARCH RETURN (MIN MAX COUNT ALL) SEEN',
      'UID SEARCH RETURN () ALL',
      'SEARCH RETURN (COUNT) SUBJECT nothing-like-this',
      'UID SEARCH RETURN (MIN MAX) NOT SEEN',
      'SEARCH RETURN (ALL) OR FLAGGED 1:5',
    ]) {
      const [direct, proxied] = await Promise.all(clients.map((c) => c.command(search)));
      assert.match(String(proxied?.tagged), /OK/, search);
      assert.ok(!proxied?.untagged.some((l) => l.toString().startsWith('* SEARCH')), `${search}: no SEARCH line`);
      assert.deepEqual(esearchItems(proxied?.untagged ?? []), esearchItems(direct?.untagged ?? []), search);
    }
    const plain = await Promise.all(clients.map((c) => c.command('SEARCH 1:3')));
    assert.deepEqual(plain[1]?.untagged.map(String), plain[0]?.untagged.map(String), 'SEARCH without RETURN is unchanged');
    assert.match(String((await clients[1]?.command('SEARCH RETURN (BOGUS) ALL'))?.tagged), /BAD Unknown RETURN option BOGUS/);
  });

  test('with CONDSTORE: the command that enables it announces HIGHESTMODSEQ, and a MODSEQ search reports the mod-sequence of what it returns', async () => {
    const proxied = await connect(proxy.port);
    assert.match((await proxied.command('SELECT INBOX')).tagged, /OK/);
    const enabling = await proxied.command('FETCH 1 (MODSEQ)');
    assert.match(enabling.untagged.map(String).join('\n'), /^\* OK \[HIGHESTMODSEQ \d+\]/);
    assert.ok(!(await proxied.command('FETCH 2 (MODSEQ)')).untagged.some((l) => String(l).includes('HIGHESTMODSEQ')), 'once');
    for (const n of [1, 3, 2]) assert.match((await proxied.command(`STORE ${n} +FLAGS (\\Answered)`)).tagged, /OK/);
    const direct = await connect(dovecot.port);
    assert.match((await direct.command('EXAMINE INBOX')).tagged, /OK/);
    for (const search of ['SEARCH RETURN (MIN) 1:3 MODSEQ 1', 'SEARCH RETURN (MAX) 1:3 MODSEQ 1', 'SEARCH RETURN () 1:3 MODSEQ 1', 'SEARCH RETURN (COUNT) 2:3 MODSEQ 1']) {
      const [want, got] = await Promise.all([direct.command(search), proxied.command(search)]);
      assert.deepEqual(esearchItems(got.untagged), esearchItems(want.untagged), search);
    }
    const [plainWant, plainGot] = await Promise.all([direct.command('SEARCH 1:3 MODSEQ 1'), proxied.command('SEARCH 1:3 MODSEQ 1')]);
    assert.deepEqual(plainGot.untagged.map(String), plainWant.untagged.map(String));
  });
});

/** A session that turns on COMPRESS=DEFLATE, then sends and reads through deflate (RFC 4978). */
async function compressedSession(port: number, commands: string[]): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  let plain = '';
  const until = async (pattern: RegExp, read: () => string) => {
    for (let i = 0; i < 500 && !pattern.test(read()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(read(), pattern);
  };
  socket.on('data', (d: Buffer) => (plain += d.toString('latin1')));
  await until(/^\* OK.*\r\n/, () => plain);
  socket.write('a1 LOGIN test pass\r\na2 COMPRESS DEFLATE\r\n');
  await until(/a2 OK[^\r]*\r\n/, () => plain);
  socket.removeAllListeners('data');
  // what came after a2's OK is compressed already
  const inflate = zlib.createInflateRaw();
  const deflate = zlib.createDeflateRaw();
  let inflated = '';
  inflate.on('data', (d: Buffer) => (inflated += d.toString('latin1')));
  socket.pipe(inflate);
  deflate.pipe(socket);
  for (const [i, command] of commands.entries()) {
    deflate.write(`c${i} ${command}\r\n`);
    deflate.flush();
    await until(new RegExp(`c${i} (OK|NO|BAD)[^\\r]*\\r\\n`), () => inflated);
  }
  socket.destroy();
  return inflated;
}

describe('COMPRESS=DEFLATE (RFC 4978)', () => {
  test('offered on a listener set to it (not on loopback by default), and a compressed session gets the same bytes', async () => {
    const compressing = await startTestProxy(dovecot, { compress: 'on' });
    const announced = async (port: number) => {
      const client = await connect(port);
      return (await client.command('CAPABILITY')).untagged.map(String).join(' ');
    };
    assert.match(await announced(compressing.port), /COMPRESS=DEFLATE/);
    assert.doesNotMatch(await announced(proxy.port), /COMPRESS/, 'not on loopback by default');
    const direct = await connect(dovecot.port);
    assert.match((await direct.command('EXAMINE INBOX')).tagged, /OK/);
    const expected = (await direct.command('UID FETCH 1:3 (UID BODY.PEEK[])')).untagged.map((l) => l.toString('latin1'));
    const answer = await compressedSession(compressing.port, ['EXAMINE INBOX', 'UID FETCH 1:3 (UID BODY.PEEK[])']);
    for (const response of expected) assert.ok(answer.includes(response.slice(response.indexOf('BODY[]'))), 'each body arrives whole through deflate');
  });
});

