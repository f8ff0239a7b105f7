// MIME part sections (BODY[2.1], BODY[1.MIME], BODY[3.HEADER.FIELDS (..)] and their partials)
// of every message of a mixed corpus and of odd but valid messages: once the raw bodies are
// cached, the proxy answers them byte for byte as Dovecot does, online without one section
// read upstream and offline; a message whose scan disagrees with upstream's BODYSTRUCTURE gets
// its sections from upstream, never a wrong range.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CacheStore } from '../../src/cache/cache-store.js';
import type { StatusResult } from '../../src/admin/protocol.js';
import { createLogger } from '../../src/log.js';
import { ALL_KINDS, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { deliver, type MailMessage } from '../support/maildir.js';
import { runCli, startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';
import { tempDir } from '../support/temp-dir.js';

/** A message from its text ("\n" line ends become CRLF unless `lf`). */
function message(text: string, lf = false): MailMessage {
  const bytes = Buffer.from(lf ? text : text.replace(/\n/g, '\r\n'), 'utf8');
  return { folder: 'INBOX', internalDate: new Date('2025-03-01T10:00:00Z'), size: bytes.length, chunks: () => [bytes] };
}

const head = (type: string) => `From: a@example.org\nTo: b@example.org\nSubject: odd\nMIME-Version: 1.0\nContent-Type: ${type}\n`;

/** Odd but valid messages (RFC 2046), beyond the corpus's own odd kinds. */
const ODD = [
  // no close delimiter: the last part runs to the end
  `${head('multipart/mixed; boundary="b1"')}\npreamble\n--b1\nContent-Type: text/plain\n\none\n--b1\nContent-Type: text/plain\n\ntwo, never closed\n`,
  // transport padding after the boundaries, an epilogue, a part without a header
  `${head('multipart/mixed; boundary="pad"')}\n--pad  \t\n\nno header at all\n--pad \nContent-Type: text/html\n\n<p>x</p>\n--pad--   \nepilogue\nmore epilogue\n`,
  // an empty part body right before the next boundary, a header block with no empty line after it
  `${head('multipart/mixed; boundary="e"')}\n--e\nContent-Type: text/plain\n\n--e\nContent-Type: text/plain\n--e\nContent-Type: text/plain\n\nlast\n--e--\n`,
  // message/rfc822 holding a multipart holding a message/rfc822
  `${head('multipart/mixed; boundary="outer"')}\n--outer\nContent-Type: text/plain\n\nsee attached\n--outer\nContent-Type: message/rfc822\n\n` +
    `${head('multipart/alternative; boundary="mid"')}\n--mid\nContent-Type: text/plain\n\nplain\n--mid\nContent-Type: message/rfc822\n\n` +
    `From: c@example.org\nSubject: innermost\n\ninnermost body\n--mid--\n\n--outer--\n`,
  // a line that starts with a boundary and goes on (a boundary to RFC 2046's prefix rule), nested boundaries sharing a prefix
  `${head('multipart/mixed; boundary="same"')}\n--same\nContent-Type: multipart/alternative; boundary="same-inner"\n\n--same-inner\nContent-Type: text/plain\n\na\n--same-inner\nContent-Type: text/plain\n\n--samelike text\n--same-inner--\n--same--\n`,
  // an inner multipart with an epilogue, then one cut short by the outer boundary
  `${head('multipart/mixed; boundary="o"')}\n--o\nContent-Type: multipart/alternative; boundary="i1"\n\n--i1\nContent-Type: text/plain\n\nx\n--i1--\nepilogue\n--o\nContent-Type: multipart/alternative; boundary="i2"\n\npreamble\n--i2\nContent-Type: text/plain\n\ny\n--o--\n`,
  // bare LF line ends throughout, a multipart with one part
  `${head('multipart/mixed; boundary="lf"')}\n--lf\nContent-Type: text/plain\n\nonly part\n--lf--\n`,
  // a top-level message/rfc822
  `${head('message/rfc822')}\nFrom: d@example.org\nSubject: wrapped\nContent-Type: multipart/mixed; boundary="w"\n\n--w\nContent-Type: text/plain\n\nwrapped text\n--w--\n`,
].map((text, i) => message(text, i === 6));

const dovecot = await withDovecot();
const corpus = [...generateCorpus({ seed: 23, messages: ALL_KINDS.length + 12, folders: 'INBOX:1', bigFraction: 0.1, bigSizeMb: 1 })];
await deliver(dovecot.mailDir(), [...corpus, ...ODD]);
const data = await tempDir('imapcp-sections-');
const clients = suiteClients();
let proxy = await startTestProxy(dovecot, { dataDir: data });

const SUFFIXES = ['', '.MIME', '.HEADER', '.TEXT', '.HEADER.FIELDS (FROM SUBJECT CONTENT-TYPE)', '.HEADER.FIELDS.NOT (FROM)'];
const PARTIALS = ['', '<0.20>', '<7.100000>'];

/** The FETCH items of one message's answer, without UID (the order of items differs). */
async function items(client: RawImapClient, uid: number, query: string): Promise<Map<string, string>> {
  const response = await client.command(`UID FETCH ${uid} (${query})`);
  assert.match(response.tagged, /^T\d+ OK/, `UID FETCH ${uid} (${query}): ${response.tagged}`);
  const line = response.untagged.find((l) => /^\* \d+ FETCH /.test(l.toString('latin1', 0, 24)));
  assert.ok(line, `a FETCH response for ${uid}`);
  const found = fetchItems(line).items;
  found.delete('UID');
  return new Map([...found].map(([name, value]) => [name, value.toString('latin1')]));
}

/** Every part number of a message that Dovecot answers non-empty, and one past the last at each level. */
async function partPaths(client: RawImapClient, uid: number): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (prefix: string, depth: number) => {
    for (let n = 1; ; n++) {
      const path = `${prefix}${n}`;
      const body = (await items(client, uid, `BODY.PEEK[${path}]`)).get(`BODY[${path}]`);
      paths.push(path);
      if (!body || body === '{0}\r\n' || body === '""' || body === 'NIL') return;
      if (depth < 4) await walk(`${path}.`, depth + 1);
    }
  };
  await walk('', 1);
  return paths;
}

const queries = (path: string) => SUFFIXES.flatMap((suffix) => PARTIALS.map((partial) => `BODY.PEEK[${path}${suffix}]${partial}`)).join(' ');

async function partsServed(): Promise<{ cache: number; upstream: number }> {
  const result = await runCli(['status', '--data', data, '--json'], 60_000);
  const status = JSON.parse(result.stdout) as StatusResult;
  return status.accounts[0]?.served.parts ?? { cache: 0, upstream: 0 };
}

const direct = await clients(dovecot.port);
assert.match((await direct.command('EXAMINE INBOX')).tagged, /OK/);
const uids = (await direct.command('UID SEARCH ALL')).untagged[0]?.toString().split(' ').slice(2).map(Number) ?? [];
/** Dovecot's answers, per message: the query sent and the items it got. */
const expected = new Map<number, { query: string; answer: Map<string, string> }[]>();
for (const uid of uids) {
  const answers = [];
  for (const path of await partPaths(direct, uid)) {
    const query = queries(path);
    answers.push({ query, answer: await items(direct, uid, query) });
  }
  expected.set(uid, answers);
}

/** Compares every answer; returns how many part sections the proxy was asked for. */
async function compareAll(client: RawImapClient): Promise<number> {
  let compared = 0;
  for (const [uid, answers] of expected) {
    for (const { query, answer } of answers) {
      assert.deepEqual(await items(client, uid, query), answer, `UID ${uid}: ${query}`);
      compared += SUFFIXES.length; // partials of one section count once
    }
  }
  return compared;
}

describe('part sections from the cached body', () => {
  test('the corpus has what the sections are about', () => {
    assert.ok(uids.length >= ALL_KINDS.length + 12 + ODD.length, `${uids.length} messages`);
    const sections = [...expected.values()].reduce((n, answers) => n + answers.length * SUFFIXES.length * PARTIALS.length, 0);
    assert.ok(sections > 1000, `${sections} sections`);
  });

  test('once the bodies are cached, every section equals Dovecot\'s with none read upstream', async () => {
    const client = await clients(proxy.port);
    assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
    // BODYSTRUCTURE first, as clients do: bodies that then arrive whole are indexed as they are
    // stored; the large ones on the first part fetch
    assert.match((await client.command('UID FETCH 1:* (BODYSTRUCTURE)')).tagged, /OK/);
    assert.match((await client.command('UID FETCH 1:* (BODY.PEEK[])')).tagged, /OK/);
    const before = await partsServed();
    const compared = await compareAll(client);
    const after = await partsServed();
    assert.equal(after.upstream - before.upstream, 0, 'no part section from upstream');
    assert.equal(after.cache - before.cache, compared);
  });

  test('offline, every section is answered from the cache, equal to Dovecot\'s; BODY and TEXT searches too, where raw bytes can tell', async () => {
    // messages whose text a raw search sees: no base64 or quoted-printable part, no encoded words in the header
    const plain: number[] = [];
    for (const uid of uids) {
      const found = await items(direct, uid, 'BODYSTRUCTURE BODY.PEEK[HEADER]');
      if (!/"(base64|quoted-printable)"/i.test(found.get('BODYSTRUCTURE') ?? '') && !found.get('BODY[HEADER]')?.includes('=?')) plain.push(uid);
    }
    assert.ok(plain.length >= 10, `${plain.length} plain messages`);
    const searches = ['BODY meeting', 'BODY "INNERMOST body"', 'TEXT subject', 'TEXT "wrapped text"', 'BODY nothing-like-this', 'NOT BODY the', 'OR BODY epilogue TEXT odd'];
    const online = new Map<string, string>();
    for (const search of searches) online.set(search, (await direct.command(`UID SEARCH UID ${plain.join(',')} ${search}`)).untagged.join());
    await dovecot.stop();
    try {
      const client = await clients(proxy.port);
      assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
      await compareAll(client);
      for (const search of searches) {
        const answer = await client.command(`UID SEARCH UID ${plain.join(',')} ${search}`);
        assert.match(answer.tagged, /^T\d+ OK/, search);
        assert.equal(answer.untagged.join(), online.get(search), search);
      }
      const everything = await client.command('UID SEARCH BODY meeting');
      assert.match(everything.tagged, /^T\d+ NO \[UNAVAILABLE\] The mail server is not reachable, and the cache cannot search BODY in a message whose body is not cached or has base64 or quoted-printable parts/);
    } finally {
      await dovecot.start();
    }
  });

  test('a message whose BODYSTRUCTURE disagrees with the scan gets its sections from upstream, right', async () => {
    await proxy.close();
    // upstream's sizes as another server might count them: one more byte in every part
    const store = await CacheStore.open(path.join(data, 'cache'), createLogger({ level: 'silent' }));
    let changed = 0;
    try {
      for (const { id } of await store.listAccounts()) {
        for (const { record } of await store.listFolders(id)) {
          const uidList = await store.loadUids(record.fid);
          const structures = await store.getStructures(record.fid, uidList);
          const tampered = uidList.flatMap((uid, i) => {
            const structure = structures[i];
            if (!structure?.bodystructure) return [];
            const bodystructure = Buffer.from(structure.bodystructure.toString('latin1').replace(/" (\d+) /g, (_, n: string) => `" ${Number(n) + 1} `), 'latin1');
            return [{ uid, structure: { ...structure, bodystructure, parts: undefined } }];
          });
          await store.putStructures(record.fid, tampered);
          changed += tampered.length;
        }
      }
    } finally {
      await store.close();
    }
    assert.ok(changed >= uids.length, `${changed} structures changed`);
    proxy = await startTestProxy(dovecot, { dataDir: data });
    const client = await clients(proxy.port);
    assert.match((await client.command('EXAMINE INBOX')).tagged, /OK/);
    const before = await partsServed();
    const compared = await compareAll(client);
    const after = await partsServed();
    assert.equal(after.upstream - before.upstream, compared, 'every part section from upstream');
    assert.ok(proxy.logs.some((l) => String(l.msg).includes('parsed this message differently')));
  });
});
