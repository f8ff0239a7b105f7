// IMAP extensions the proxy offers beyond imap-core's: their answers compared with Dovecot's own.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { generateCorpus } from '../support/corpus.js';
import { OUTLOOK_CAPABILITIES, withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot();
await deliver(dovecot.mailDir(), generateCorpus({ seed: 24, messages: 40, folders: 'INBOX:1' }));
const proxy = await startTestProxy(dovecot);
const connect = suiteClients();

/** An ESEARCH answer as its items (the tag correlator left out): their order is free (RFC 4731). */
function esearchItems(lines: Buffer[]): Map<string, string> | undefined {
  const line = lines.map((l) => l.toString('latin1')).find((l) => l.startsWith('* ESEARCH'));
  if (!line) return undefined;
  let rest = line.replace(/^\* ESEARCH \(TAG "[^"]*"\)/, '').trim();
  const items = new Map<string, string>();
  if (rest.startsWith('UID')) {
    items.set('UID', '');
    rest = rest.slice(3);
  }
  // a value is a word or a parenthesised list (PARTIAL (1:5 1:3))
  for (const [, name, value] of rest.matchAll(/(\S+) (\([^)]*\)|\S+)/g)) items.set(name as string, value as string);
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


/** What Outlook.com announces: no MULTIAPPEND, no BINARY (Dovecot's imap_capability). */
const message = (n: number, extra = '') => `From: a@example.org\r\nSubject: multi ${n}\r\nMessage-ID: <multi-${n}-${extra}@example.org>\r\n\r\nbody ${n} ${extra}\r\n`;
/** `APPEND box` of these messages, each a non-synchronizing literal, with its flags. */
const multiAppend = (box: string, messages: { text: string; flags?: string }[]) =>
  `APPEND ${box}${messages.map((m) => `${m.flags ? ` (${m.flags})` : ''} {${Buffer.byteLength(m.text)}+}\r\n${m.text}`).join('')}`;

async function messagesIn(port: number, box: string): Promise<string[]> {
  const client = await connect(port);
  assert.match((await client.command(`EXAMINE ${box}`)).tagged, /OK/);
  const answer = await client.command('FETCH 1:* (FLAGS BODY.PEEK[])');
  client.close();
  // \Recent belongs to a session, and the order of flags is free
  const flagsSorted = (line: string) => line.replace(/FLAGS \(([^)]*)\)/, (_, f: string) => `FLAGS (${f.split(' ').filter((x) => x && x !== '\\Recent').sort().join(' ')})`);
  return answer.untagged.map((l) => flagsSorted(l.toString('latin1').replace(/^\* \d+ /, '')));
}

describe('MULTIAPPEND (RFC 3502), literals streamed upstream', () => {
  for (const [name, upstreamCapabilities] of [['upstream with MULTIAPPEND', undefined], ['upstream without it (one APPEND each, taken back on failure)', OUTLOOK_CAPABILITIES]] as const) {
    test(`${name}: the messages land in order with their flags and APPENDUID; a refused one leaves none of them`, async () => {
      const upstream = upstreamCapabilities ? await withDovecot({ capabilities: upstreamCapabilities }) : dovecot;
      const front = upstreamCapabilities ? await startTestProxy(upstream) : proxy;
      const box = `Multi${upstreamCapabilities ? 'One' : 'All'}`;
      const client = await connect(front.port);
      assert.match((await client.command(`CREATE ${box}`)).tagged, /OK/);
      const messages = [{ text: message(1), flags: '\\Seen' }, { text: message(2) }, { text: message(3), flags: '\\Flagged $Work' }];
      const appended = await client.command(multiAppend(box, messages));
      assert.match(appended.tagged, /OK \[APPENDUID \d+ 1:3\]/);
      const stored = await messagesIn(upstream.port, box);
      assert.equal(stored.length, 3);
      for (const [i, m] of messages.entries()) assert.ok(stored[i]?.endsWith(`BODY[] {${m.text.length}}\r\n${m.text})`), `message ${i + 1} as sent`);
      assert.match(String(stored[2]), /FLAGS \([^)]*\$Work/);
      // through the proxy, the same as upstream has
      assert.deepEqual(await messagesIn(front.port, box), stored);

      // the third message's literal is refused (a bad flag): the two before it do not stay
      const refused = await client.command(multiAppend(box, [{ text: message(4) }, { text: message(5) }, { text: message(6), flags: '\\Bogus' }]));
      assert.match(refused.tagged, /BAD Invalid system flag/);
      // upstream refuses the third (Dovecot takes keywords of up to 50 characters): nothing of the command stays
      const late = await client.command(multiAppend(box, [{ text: message(7) }, { text: message(8) }, { text: message(9), flags: 'k'.repeat(60) }]));
      assert.match(late.tagged, /^T\d+ NO \[CANNOT\] Keyword length too long/);
      assert.equal((await messagesIn(upstream.port, box)).length, 3, 'none of the refused commands left a message upstream');
      assert.equal((await messagesIn(front.port, box)).length, 3);
    });
  }

  test('a client that leaves in the middle of a MULTIAPPEND leaves nothing upstream', async () => {
    const client = await connect(proxy.port);
    assert.match((await client.command('CREATE MultiGone')).tagged, /OK/);
    client.write(`X1 APPEND MultiGone {${message(1).length}+}\r\n${message(1)} {100000+}\r\n${'x'.repeat(50_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await messagesIn(dovecot.port, 'MultiGone')).length, 0);
    const again = await connect(proxy.port);
    assert.match((await again.command(multiAppend('MultiGone', [{ text: message(9) }]))).tagged, /OK/, 'the proxy goes on');
  });
});

describe('BINARY (RFC 3516), passed through to upstream', () => {
  test('BINARY[], BINARY.PEEK and BINARY.SIZE of decoded parts, and a literal8 APPEND, answer as Dovecot does; announced only where upstream has it', async () => {
    const binary = `From: b@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('decoded \u00e9 text\r\n').toString('base64')}\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nnul\u0000byte\r\n--x--\r\n`;
    const clients = [await connect(dovecot.port), await connect(proxy.port)];
    assert.match((await clients[1]!.command('CAPABILITY')).untagged.map(String).join(' '), /\bBINARY\b/);
    const appended = await clients[1]!.command(`APPEND INBOX ~{${Buffer.byteLength(binary, 'latin1')}+}\r\n${binary}`);
    assert.match(appended.tagged, /OK \[APPENDUID \d+ (\d+)\]/);
    const uid = /APPENDUID \d+ (\d+)/.exec(appended.tagged)?.[1];
    for (const client of clients) assert.match((await client.command('SELECT INBOX')).tagged, /OK/);
    for (const fetch of [`UID FETCH ${uid} (BINARY.PEEK[1] BINARY.SIZE[1])`, `UID FETCH ${uid} (BINARY.PEEK[2])`, `UID FETCH ${uid} (BINARY.SIZE[2] BINARY.PEEK[1]<2.5>)`, 'FETCH 1:3 (BINARY.PEEK[])']) {
      const [direct, proxied] = await Promise.all(clients.map((c) => c.command(fetch)));
      assert.match(String(proxied?.tagged), /OK/, fetch);
      // the same items (UID comes where each server puts it; Dovecot sends whatever it decoded as a literal8)
      const literal = (value: Buffer) => (value[0] === 0x7e ? value.subarray(1) : value);
      const items = (lines: Buffer[] | undefined) => (lines ?? []).map((l) => [...fetchItems(l).items].map(([k, v]) => [k, literal(v)]).sort(([a], [b]) => String(a).localeCompare(String(b))));
      assert.deepEqual(items(proxied?.untagged), items(direct?.untagged), fetch);
    }
    // BINARY[] without PEEK sets \Seen (RFC 3516 4.2)
    assert.match(String((await clients[1]!.command(`UID FETCH ${uid} (BINARY[1])`)).untagged[0]), /FLAGS \([^)]*\\Seen/);
    // a NUL in the content: a literal8 (RFC 3516 4.3)
    assert.match(String((await clients[1]!.command(`UID FETCH ${uid} (BINARY.PEEK[2])`)).untagged[0]), /BINARY\[2\] ~\{/);
    const cutDown = await withDovecot({ capabilities: OUTLOOK_CAPABILITIES });
    const front = await startTestProxy(cutDown);
    assert.doesNotMatch((await (await connect(front.port)).command('CAPABILITY')).untagged.map(String).join(' '), /\bBINARY\b/);
  });
});

describe('LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819)', () => {
  test('selection and return options, several patterns, STATUS: the same entries as Dovecot gives', async () => {
    const setup = await connect(dovecot.port);
    for (const command of ['CREATE lx', 'CREATE lx/a', 'CREATE lx/b/c', 'CREATE lx/d', 'CREATE lx/e', 'SUBSCRIBE lx/a', 'SUBSCRIBE lx/b/c', 'SUBSCRIBE lx/e', 'DELETE lx/e']) {
      assert.match((await setup.command(command)).tagged, /OK/, command);
    }
    const clients = [await connect(dovecot.port), await connect(proxy.port)];
    // Dovecot marks folders \UnMarked (RFC 3348) and writes names as atoms: neither is the point here
    const entries = (lines: Buffer[] | undefined) =>
      (lines ?? []).map((l) => l.toString('utf8').replace(/ ?\\UnMarked/, '').replace(/\(\s/, '(').replace(/"(lx[^"]*|INBOX)"/g, '$1')).sort();
    for (const list of [
      'LIST "" lx*',
      'LIST () "" lx*',
      'LIST (SUBSCRIBED) "" lx*',
      'LIST (SUBSCRIBED RECURSIVEMATCH) "" lx/% RETURN (CHILDREN)',
      'LIST (SUBSCRIBED REMOTE) "" (lx/a lx/b*)',
      'LIST "" lx/% RETURN (CHILDREN SUBSCRIBED)',
      'LIST "" (lx lx/d) RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))',
      'LIST "lx/" %',
    ]) {
      const [direct, proxied] = await Promise.all(clients.map((c) => c.command(list)));
      assert.match(String(proxied?.tagged), /OK/, list);
      assert.deepEqual(entries(proxied?.untagged), entries(direct?.untagged), list);
    }
    for (const bad of ['LIST (RECURSIVEMATCH) "" %', 'LIST "" % RETURN (BOGUS)', 'LIST (BOGUS) "" %']) {
      assert.match((await clients[1]!.command(bad)).tagged, /BAD/, bad);
    }
  });
});

describe('CATENATE (RFC 4469), assembled by the proxy', () => {
  test('TEXT parts and URLs of messages and sections build the message Dovecot builds, from any upstream; a bad URL leaves nothing', async () => {
    const cutDown = await withDovecot({ capabilities: OUTLOOK_CAPABILITIES });
    await deliver(cutDown.mailDir(), generateCorpus({ seed: 24, messages: 40, folders: 'INBOX:1' }));
    const front = await startTestProxy(cutDown);
    const text = (t: string) => `TEXT {${Buffer.byteLength(t)}+}\r\n${t}`;
    const commands = (validity: string) => [
      `APPEND Cat CATENATE (URL "/INBOX/;UID=2/;SECTION=HEADER" ${text('body one\r\n')})`,
      `APPEND Cat (\\Seen) CATENATE (${text('Subject: built\r\n\r\n')} URL "/INBOX;UIDVALIDITY=${validity}/;UID=3/;SECTION=TEXT" ${text('-- \r\nsuffix\r\n')})`,
      `APPEND Cat CATENATE (URL "/INBOX/;UID=4") CATENATE (URL "/INBOX/;UID=5/;SECTION=1/;PARTIAL=0.40" ${text('\r\n')})`,
    ];
    const built = async (upstream: typeof dovecot, port: number) => {
      const client = await connect(port);
      assert.match((await client.command('CREATE Cat')).tagged, /OK/);
      const validity = /UIDVALIDITY (\d+)/.exec((await client.command('STATUS INBOX (UIDVALIDITY)')).untagged.map(String).join(' '))?.[1] ?? '';
      for (const command of commands(validity)) assert.match((await client.command(command)).tagged, /OK \[APPENDUID/, command);
      const bad = await client.command(`APPEND Cat CATENATE (${text('x: y\r\n\r\n')} URL "/INBOX;UIDVALIDITY=1/;UID=2") CATENATE (${text('z\r\n')})`);
      assert.match(bad.tagged, /NO \[BADURL/);
      assert.match((await client.command(`APPEND Nowhere CATENATE (URL "/INBOX/;UID=2")`)).tagged, /NO \[TRYCREATE\]/);
      return messagesIn(upstream.port, 'Cat');
    };
    const direct = await built(dovecot, dovecot.port);
    await connect(dovecot.port).then((c) => c.command('DELETE Cat'));
    assert.equal(direct.length, 4);
    assert.deepEqual(await built(dovecot, proxy.port), direct, 'through the proxy, Dovecot has CATENATE');
    assert.deepEqual(await built(cutDown, front.port), direct, 'through the proxy, upstream without CATENATE');
  });
});

describe('CONTEXT=SEARCH (RFC 5267)', () => {
  test('PARTIAL answers as Dovecot; an UPDATE search reports what STORE, EXPUNGE, APPEND and other sessions change, until CANCELUPDATE', async () => {
    const clients = [await connect(dovecot.port), await connect(proxy.port)];
    for (const client of clients) assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
    for (const search of ['SEARCH RETURN (PARTIAL 1:5) ALL', 'UID SEARCH RETURN (PARTIAL 30:2 COUNT) ALL', 'SEARCH RETURN (PARTIAL 500:600) ALL', 'SEARCH RETURN (PARTIAL 2:3) NOT SEEN']) {
      const [direct, proxied] = await Promise.all(clients.map((c) => c.command(search)));
      assert.deepEqual(esearchItems(proxied?.untagged ?? []), esearchItems(direct?.untagged ?? []), search);
    }
    const box = 'Ctx';
    const setup = await connect(proxy.port);
    assert.match((await setup.command(`CREATE ${box}`)).tagged, /OK/);
    assert.match((await setup.command(multiAppend(box, [1, 2, 3, 4].map((n) => ({ text: message(n, 'ctx') }))))).tagged, /OK/);
    const watcher = await connect(proxy.port);
    const other = await connect(proxy.port);
    for (const client of [watcher, other]) assert.match((await client.command(`SELECT ${box}`)).tagged, /OK/);
    const started = await watcher.command('SEARCH RETURN (UPDATE COUNT) FLAGGED');
    assert.match(String(started.untagged[0]), /^\* ESEARCH \(TAG "T\d+"\) COUNT 0$/);
    const tag = /TAG "(T\d+)"/.exec(String(started.untagged[0]))?.[1];
    const updates = (answer: { untagged: Buffer[] }) => answer.untagged.map(String).filter((l) => l.startsWith('* ESEARCH'));
    assert.deepEqual(updates(await watcher.command('STORE 1,3 +FLAGS (\\Flagged)')), [`* ESEARCH (TAG "${tag}") ADDTO (0 1,3)`]);
    assert.match((await other.command('STORE 3 -FLAGS (\\Flagged)')).tagged, /OK/);
    assert.deepEqual(updates(await watcher.command('NOOP')), [`* ESEARCH (TAG "${tag}") REMOVEFROM (0 3)`]);
    assert.match((await other.command('STORE 1 +FLAGS (\\Deleted)')).tagged, /OK/);
    assert.match((await other.command('EXPUNGE')).tagged, /OK/);
    const expunged = (await watcher.command('NOOP')).untagged.map(String);
    assert.deepEqual(expunged.slice(0, 2), [`* ESEARCH (TAG "${tag}") REMOVEFROM (0 1)`, '* 1 EXPUNGE'], 'REMOVEFROM before the EXPUNGE');
    assert.match((await other.command(multiAppend(box, [{ text: message(5, 'ctx'), flags: '\\Flagged' }]))).tagged, /OK/);
    assert.deepEqual(updates(await watcher.command('NOOP')), [`* ESEARCH (TAG "${tag}") ADDTO (0 4)`]);
    assert.match((await watcher.command(`CANCELUPDATE "${tag}"`)).tagged, /OK/);
    assert.deepEqual(updates(await watcher.command('STORE 1 +FLAGS (\\Flagged)')), [], 'no updates after CANCELUPDATE');
  });
});

describe('SEARCHRES (RFC 5182) and CREATE with USE (RFC 6154)', () => {
  test('SEARCH RETURN (SAVE) keeps the result, and $ names it in FETCH, UID FETCH and SEARCH, as on Dovecot', async () => {
    const clients = [await connect(dovecot.port), await connect(proxy.port)];
    for (const client of clients) assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
    const script = [
      'SEARCH RETURN (SAVE) 3:12 NOT SEEN',
      'FETCH $ (FLAGS)',
      'UID FETCH $ (UID FLAGS)',
      'SEARCH $ SEEN',
      'SEARCH OR $ 1',
      'UID SEARCH RETURN (SAVE MAX) ALL',
      'FETCH $ (UID)',
      'SEARCH RETURN (SAVE) SUBJECT nothing-like-this',
      'FETCH $ (FLAGS)',
      'UID SEARCH $',
    ];
    for (const command of script) {
      const [direct, proxied] = await Promise.all(clients.map((c) => c.command(command)));
      assert.match(String(proxied?.tagged), /OK/, command);
      // \Recent is the session's own
      const lines = (answer: typeof proxied) => answer?.untagged.map((l) => String(l).replace(/\\Recent ?/, '').replace(' )', ')'));
      assert.deepEqual(lines(proxied), lines(direct), command);
    }
  });

  test('CREATE name (USE (attributes)) goes upstream with them; CREATE-SPECIAL-USE is announced where upstream has it', async () => {
    const client = await connect(proxy.port);
    assert.match((await client.command('CREATE Kept (USE (\\Archive))')).tagged, /OK/);
    assert.ok((await client.command('LIST "" Kept')).untagged.some((l) => String(l).includes('Kept')));
    assert.match((await client.command('CREATE Other (BOGUS)')).tagged, /BAD/);
    // this Dovecot takes USE without announcing CREATE-SPECIAL-USE: neither does the proxy
    assert.doesNotMatch((await client.command('CAPABILITY')).untagged.map(String).join(' '), /CREATE-SPECIAL-USE/);
  });
});
