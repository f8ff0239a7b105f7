// A message appended through the proxy is cached from the client's bytes. Other sessions hear of
// it from upstream as soon as upstream has it, while those bytes are still being stored: one
// that fetches it then must wait for them, not download the body again. Its ENVELOPE and
// BODYSTRUCTURE come from upstream once, however many sessions ask for them at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamCommands, withDovecot } from '../support/dovecot.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot({ rawlog: true });
const raw = suiteClients();

test('a session that fetches a message while its APPEND is being cached gets it from the cache, not upstream', async () => {
  const before = await dovecot.bodyCount();
  const proxy = await startTestProxy(dovecot);
  const reader = await raw(proxy.port);
  assert.match((await reader.command('SELECT INBOX')).tagged, /OK/);

  // 4 MB: storing it takes long enough for the reader to see the message first
  const line = `${'x'.repeat(998)}\r\n`;
  const message = Buffer.from(`From: me@example.org\r\nSubject: big draft\r\n\r\n${line.repeat(4200)}`);
  const writer = await raw(proxy.port);
  const appended = writer.command(`APPEND INBOX {${message.length}+}\r\n${message.toString('latin1')}`);

  // the reader polls with NOOP and fetches the message the moment it is told of it
  let body: Buffer | undefined;
  for (let polls = 0; !body && polls < 2000; polls++) {
    const exists = (await reader.command('NOOP')).untagged.some((untagged) => /^\* 1 EXISTS/.test(untagged.toString('latin1')));
    if (!exists) continue;
    const fetched = await reader.command('UID FETCH 1:* (UID BODY.PEEK[])');
    assert.match(fetched.tagged, /OK/);
    body = fetchItems(fetched.untagged.find((untagged) => /^\* \d+ FETCH/.test(untagged.toString('latin1', 0, 20))) as Buffer).items.get('BODY[]') as Buffer;
  }
  assert.match((await appended).tagged, /OK \[APPENDUID/);
  // fetchItems gives a literal with its announcement
  assert.ok(body?.subarray(body.indexOf('\r\n') + 2).equals(message), 'the body as appended');

  reader.close();
  writer.close();
  await proxy.close();
  await dovecot.waitSessionsClosed();
  assert.equal((await dovecot.bodyCount()) - before, 0, 'bodies Dovecot served');
});

test('sessions that ask at once for the ENVELOPE and BODYSTRUCTURE of a new message share one upstream fetch', async () => {
  const proxy = await startTestProxy(dovecot);
  const writer = await raw(proxy.port);
  const message = 'From: me@example.org\r\nSubject: shared\r\n\r\nhello\r\n';
  const appended = await writer.command(`APPEND INBOX {${message.length}+}\r\n${message}`);
  const uid = /APPENDUID \d+ (\d+)/.exec(appended.tagged)?.[1];
  assert.ok(uid, appended.tagged);
  const readers = await Promise.all(Array.from({ length: 4 }, () => raw(proxy.port)));
  for (const reader of readers) assert.match((await reader.command('SELECT INBOX')).tagged, /OK/);
  const before = (await upstreamCommands(dovecot, /ENVELOPE/)).length;
  const answers = await Promise.all(readers.map((reader) => reader.command(`UID FETCH ${uid} (ENVELOPE BODYSTRUCTURE)`)));
  for (const answer of answers) {
    assert.match(answer.tagged, /OK/);
    assert.match(answer.untagged.map((line) => line.toString()).join(''), /ENVELOPE \(.*"shared"/);
  }
  for (const client of [writer, ...readers]) client.close();
  await proxy.close();
  await dovecot.waitSessionsClosed();
  assert.equal((await upstreamCommands(dovecot, /ENVELOPE/)).length - before, 1, 'structure fetches upstream');
});

test('APPEND upstream: a small message follows its command at once (LITERAL+), a large one waits until upstream asks for it', async () => {
  const proxy = await startTestProxy(dovecot);
  const writer = await raw(proxy.port);
  const small = 'From: me@example.org\r\nSubject: small\r\n\r\nhello\r\n';
  const large = `From: me@example.org\r\nSubject: large\r\n\r\n${`${'y'.repeat(998)}\r\n`.repeat(100)}`;
  for (const message of [small, large]) assert.match((await writer.command(`APPEND INBOX {${message.length}+}\r\n${message}`)).tagged, /OK \[APPENDUID/);
  const appends = await upstreamCommands(dovecot, / APPEND "INBOX" /);
  assert.ok(appends.some((line) => line.trimEnd().endsWith(`{${small.length}+}`)), appends.join('\n'));
  assert.ok(appends.some((line) => line.trimEnd().endsWith(`{${large.length}}`)), appends.join('\n'));
  // both arrived whole
  const direct = await raw(dovecot.port);
  await direct.command('EXAMINE INBOX');
  const bodies = (await direct.command('FETCH 1:* (BODY.PEEK[])')).untagged.map((line) => String(fetchItems(line).items.get('BODY[]')));
  for (const message of [small, large]) assert.ok(bodies.includes(`{${message.length}}\r\n${message}`), `${message.length} bytes arrived whole`);
  writer.close();
  direct.close();
  await proxy.close();
});
