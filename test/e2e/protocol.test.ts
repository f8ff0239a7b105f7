// RFC 3501 as Dovecot speaks it, checked over raw sockets against the proxy and, side by side,
// Dovecot itself: sequence sets and list patterns imap-core refused, when EXISTS / EXPUNGE /
// RECENT / FLAGS may be sent, keywords, MOVE's COPYUID, LSUB, answers for missing mailboxes,
// STARTTLS after login, the greeting, LOGOUT; and several sessions on one mailbox at once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';
import { bigMessage, generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { createFolder, deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { fetchItems, type RawImapClient, suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot();
await createFolder(dovecot.mailDir(), 'Archive');
await createFolder(dovecot.mailDir(), 'Shared');
await deliver(dovecot.mailDir(), generateCorpus({ seed: 21, messages: 40, folders: 'INBOX:3,Archive:1' }));
const proxy = await startTestProxy(dovecot);
const open = suiteClients();
const text = (lines: Buffer[]) => lines.map((line) => line.toString('latin1'));
/** LIST / LSUB lines as `name` or `name \Noselect`, sorted: servers differ in quoting and other flags. */
const listed = (lines: string[]) =>
  lines
    .map((line) => {
      const name = line.replace(/^\* (LIST|LSUB) \([^)]*\) (NIL|"[^"]*") /, '').replace(/^"(.*)"$/, '$1');
      return /\\Noselect/i.test(line) ? `${name} \\Noselect` : name;
    })
    .sort();
/** A FETCH's FLAGS as a sorted list without the session's \Recent: servers order them differently. */
const flagSet = (value: Buffer | undefined) =>
  String(value ?? '')
    .replace(/^\(|\)$/g, '')
    .split(' ')
    .filter((flag) => flag && flag !== '\\Recent')
    .sort()
    .join(' ');
/** The message count in an EXISTS among these lines. */
const existsIn = (lines: Buffer[]) => Number(/\* (\d+) EXISTS/.exec(text(lines).join('\n'))?.[1] ?? 0);
const message = (subject: string) => `From: a@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.org>\r\n\r\nbody of ${subject}\r\n`;

async function append(client: RawImapClient, folder: string, subject: string, flags = '') {
  const body = message(subject);
  return client.command(`APPEND ${folder} (${flags}) {${Buffer.byteLength(body)}}\r\n${body}`);
}

/** The same commands to Dovecot and to the proxy: the tagged status and the untagged lines of each. */
async function sideBySide(commands: string[], setup = 'SELECT INBOX') {
  const answers = [];
  for (const port of [dovecot.port, proxy.port]) {
    const client = await open(port);
    await client.command(setup);
    const got = [];
    for (const command of commands) {
      const { tagged, untagged } = await client.command(command);
      got.push({ status: tagged.split(' ')[1], untagged: text(untagged) });
    }
    answers.push(got);
  }
  return { direct: answers[0], proxied: answers[1] };
}

describe('syntax imap-core refused', () => {
  test('sequence sets with * in a list or starting a range, NIL as a search string: answered as Dovecot answers', async () => {
    const { direct, proxied } = await sideBySide(['FETCH 1,* (UID)', 'FETCH *,1 (UID)', 'SEARCH *:3', 'UID SEARCH 1,*', 'SEARCH SUBJECT NIL']);
    assert.deepEqual(proxied, direct);
  });

  test('list patterns with wildcards inside an atom', async () => {
    const { direct, proxied } = await sideBySide(['LIST "" INBOX%', 'LIST "" Arch*', 'LIST "" %', 'LSUB "" A%']);
    assert.deepEqual(
      proxied.map((a) => ({ ...a, untagged: listed(a.untagged) })),
      direct.map((a) => ({ ...a, untagged: listed(a.untagged) })),
    );
  });
});

describe('untagged updates', () => {
  test('APPEND to the selected mailbox is followed by EXISTS; another session hears of it at NOOP, and the message is \\Recent in one of them', async () => {
    const [a, b] = [await open(proxy.port), await open(proxy.port)] as [RawImapClient, RawImapClient];
    const selected = await a.command('SELECT Shared');
    await b.command('SELECT Shared');
    const exists = existsIn(selected.untagged);
    const appended = await append(a, 'Shared', 'appended-1');
    assert.match(appended.tagged, /OK \[APPENDUID \d+ \d+\]/);
    assert.ok(text(appended.untagged).includes(`* ${exists + 1} EXISTS`), text(appended.untagged).join('\n'));
    assert.ok(text(appended.untagged).includes('* 1 RECENT'), 'the session that appended was told first: the message is recent there');
    const noop = text((await b.command('NOOP')).untagged);
    assert.ok(noop.includes(`* ${exists + 1} EXISTS`), noop.join('\n'));
    assert.ok(!noop.some((line) => /RECENT/.test(line) && !/\* 0 RECENT/.test(line)), 'only one session gets \\Recent');
    const flags = text((await a.command(`FETCH ${exists + 1} (FLAGS)`)).untagged);
    assert.match(flags.join('\n'), /FLAGS \(\\Recent\)/);
  });

  test('a SELECT counts RECENT and names the first unseen message', async () => {
    const c = await open(proxy.port);
    await c.command('CREATE Fresh');
    await append(c, 'Fresh', 'fresh-1', '\\Seen');
    await append(c, 'Fresh', 'fresh-2');
    const examined = text((await c.command('EXAMINE Fresh')).untagged);
    assert.ok(examined.includes('* 2 RECENT'), examined.join('\n'));
    assert.ok(examined.some((line) => /^\* OK \[UNSEEN 2\]/.test(line)), examined.join('\n'));
    const status = text((await c.command('STATUS Fresh (MESSAGES RECENT UNSEEN)')).untagged);
    assert.match(status.join('\n'), /MESSAGES 2 RECENT 2 UNSEEN 1/);
    const selected = text((await c.command('SELECT Fresh')).untagged);
    assert.ok(selected.includes('* 2 RECENT'), 'EXAMINE did not take them');
    await c.command('CLOSE');
    assert.match(text((await c.command('STATUS Fresh (RECENT)')).untagged).join('\n'), /RECENT 0/);
  });

  test('a folder deleted and created again while another session syncs it: the new one is as Dovecot has it, its messages \\Recent', async () => {
    const b = await open(proxy.port);
    const direct = await open(dovecot.port);
    await b.command('CREATE Again');
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 10; i++) await append(b, 'Again', `again-${round}-${i}`);
      // A's sync of the old folder is under way (or retried on a new connection) through B's DELETE
      // and CREATE; A's session ends with the folder it had selected
      const a = await open(proxy.port);
      const selecting = a
        .command('SELECT Again')
        .then(() => a.command('NOOP'))
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, round * 3));
      await b.command('DELETE Again');
      await b.command('CREATE Again');
      for (let i = 0; i < 3; i++) await append(b, 'Again', `new-${round}-${i}`);
      await selecting;
      const selected = text((await b.command('SELECT Again')).untagged);
      assert.ok(selected.includes('* 3 RECENT'), `round ${round}: ${selected.join(' | ')}`);
      assert.deepEqual(text((await b.command('SEARCH RECENT')).untagged), ['* SEARCH 1 2 3']);
      const upstream = text((await direct.command('STATUS Again (UIDVALIDITY)')).untagged).join('');
      const validity = /UIDVALIDITY (\d+)/.exec(upstream)?.[1];
      assert.ok(selected.some((line) => line.includes(`[UIDVALIDITY ${validity}]`)), `round ${round}: ${selected.join(' | ')}`);
      await b.command('CLOSE');
    }
  });

  test('an expunge by another session is not sent during FETCH, STORE or SEARCH, but at the next NOOP', async () => {
    const [a, b] = [await open(proxy.port), await open(proxy.port)] as [RawImapClient, RawImapClient];
    await b.command('SELECT Shared');
    await a.command('SELECT Shared');
    await append(b, 'Shared', 'to-expunge');
    const count = existsIn((await a.command('NOOP')).untagged);
    assert.ok(count > 0);
    assert.match((await b.command(`STORE ${count} +FLAGS.SILENT (\\Deleted)`)).tagged, /OK/);
    assert.match((await b.command('EXPUNGE')).tagged, /OK/);
    for (const command of ['FETCH 1 (FLAGS)', 'STORE 1 -FLAGS.SILENT (\\Answered)', 'SEARCH ALL']) {
      const { untagged } = await a.command(command);
      assert.ok(!text(untagged).some((line) => /EXPUNGE/.test(line)), `${command}: ${text(untagged).join('\n')}`);
    }
    assert.ok(text((await a.command('NOOP')).untagged).includes(`* ${count} EXPUNGE`));
  });

  test('bodies of messages another client expunged under the FETCH are reported gone, never served or cached empty', async () => {
    // Dovecot answers BODY[] NIL for a message expunged behind its session's back: one body fetched
    // in pieces (over 2 MB), one in a batch
    await createFolder(dovecot.mailDir(), 'Vanishing');
    await deliver(dovecot.mailDir(), [3, 0.05].map((sizeMb, seed) => bigMessage({ sizeMb, seed, folder: 'Vanishing' })));
    const [client, direct] = [await open(proxy.port), await open(dovecot.port)] as [RawImapClient, RawImapClient];
    assert.equal(existsIn((await client.command('SELECT Vanishing')).untagged), 2);
    await direct.command('SELECT Vanishing');
    await direct.command('STORE 1:* +FLAGS.SILENT (\\Deleted)');
    assert.match((await direct.command('EXPUNGE')).tagged, /OK/);
    for (let round = 0; round < 2; round++) {
      const fetched = await client.command('UID FETCH 1:* (BODY.PEEK[])');
      assert.match(fetched.tagged, /^T\d+ (OK|NO \[EXPUNGEISSUED\])/);
      for (const response of fetched.untagged.filter((line) => / FETCH /.test(line.toString('latin1', 0, 32)))) {
        const body = fetchItems(response).items.get('BODY[]')?.toString('latin1', 0, 8);
        assert.ok(body && !/^(\{0\}|""|NIL)/.test(body), `an empty body: ${response.toString('latin1', 0, 80)}`);
      }
    }
    assert.equal(existsIn((await (await open(proxy.port)).command('SELECT Vanishing')).untagged), 0);
  });

  test('a new keyword is announced in FLAGS before a FETCH shows it, to the session that stored it and to others', async () => {
    const [a, b] = [await open(proxy.port), await open(proxy.port)] as [RawImapClient, RawImapClient];
    await a.command('SELECT INBOX');
    await b.command('SELECT INBOX');
    const stored = await a.command('STORE 1 +FLAGS ($Proto1)');
    assert.match(stored.tagged, /OK/);
    const lines = text(stored.untagged);
    const flagsAt = lines.findIndex((line) => /^\* FLAGS \(.*\$Proto1/.test(line));
    const fetchAt = lines.findIndex((line) => /^\* 1 FETCH .*\$Proto1/.test(line));
    assert.ok(flagsAt >= 0 && flagsAt < fetchAt, lines.join('\n'));
    assert.ok(lines.some((line) => /^\* OK \[PERMANENTFLAGS \(.*\$Proto1.*\\\*\)\]/.test(line)), lines.join('\n'));
    const other = text((await b.command('NOOP')).untagged);
    const otherFlagsAt = other.findIndex((line) => /^\* FLAGS \(.*\$Proto1/.test(line));
    assert.ok(otherFlagsAt >= 0 && otherFlagsAt < other.findIndex((line) => /FETCH/.test(line)), other.join('\n'));
  });

  test('FETCH RFC822.TEXT sets \\Seen and shows the new flags', async () => {
    const c = await open(proxy.port);
    await c.command('SELECT Shared');
    await c.command('STORE 1 -FLAGS.SILENT (\\Seen)');
    const fetched = text((await c.command('FETCH 1 RFC822.TEXT')).untagged);
    assert.match(fetched.join('\n'), /FLAGS \([^)]*\\Seen/);
  });

  test('MOVE says COPYUID in an untagged OK before its EXPUNGEs', async () => {
    const c = await open(proxy.port);
    await c.command('SELECT Shared');
    const count = existsIn((await append(c, 'Shared', 'to-move')).untagged);
    assert.ok(count > 0);
    const moved = await c.command(`MOVE ${count} Archive`);
    assert.match(moved.tagged, /OK/);
    const lines = text(moved.untagged);
    assert.match(lines[0] ?? '', /^\* OK \[COPYUID \d+ \d+ \d+\]/);
    assert.equal(lines[1], `* ${count} EXPUNGE`);
  });
});

describe('answers', () => {
  test('a missing mailbox is NO [NONEXISTENT] with upstream’s reason in SELECT, EXAMINE, STATUS, DELETE and RENAME', async () => {
    const c = await open(proxy.port);
    for (const command of ['SELECT Nope', 'EXAMINE Nope', 'STATUS Nope (MESSAGES)', 'DELETE Nope', 'RENAME Nope Nope2']) {
      assert.match((await c.command(command)).tagged, /NO \[NONEXISTENT\] Mailbox doesn't exist: Nope/, command);
    }
    const warnings = proxy.logs.filter((line) => Number(line['level']) >= 40 && JSON.stringify(line).includes('Nope'));
    assert.deepEqual(warnings, [], 'an expected NO is no warning');
  });

  test('LSUB lists what is subscribed upstream: not an unsubscribed INBOX; an unsubscribed parent as \\Noselect for %', async () => {
    const c = await open(proxy.port);
    await c.command('CREATE Parent/Child');
    await c.command('SUBSCRIBE Parent/Child');
    // INBOX is not subscribed on this Dovecot
    const { direct, proxied } = await sideBySide(['LSUB "" *', 'LSUB "" %', 'LSUB "" Parent/%'], 'NOOP');
    assert.deepEqual(proxied.map((a) => listed(a.untagged)), direct.map((a) => listed(a.untagged)));
    assert.ok(!proxied[0]?.untagged.some((line) => /INBOX/.test(line)));
    assert.ok(proxied[1]?.untagged.some((line) => /\\Noselect.*Parent"?$/i.test(line)), proxied[1]?.untagged.join('\n'));
    // INBOX may be unsubscribed as upstream allows (imap-core alone refuses)
    assert.match((await c.command('SUBSCRIBE INBOX')).tagged, /OK/);
    assert.match(text((await c.command('LSUB "" INBOX')).untagged).join('\n'), /INBOX/);
    assert.match((await c.command('UNSUBSCRIBE INBOX')).tagged, /OK/);
    assert.deepEqual((await c.command('LSUB "" INBOX')).untagged, []);
  });

  test('STARTTLS only before login, and announced only there; LOGOUT in plain words', async () => {
    const c = await open(proxy.port, { login: false });
    assert.match(text((await c.command('CAPABILITY')).untagged).join(' '), /STARTTLS/);
    await c.login();
    assert.doesNotMatch(text((await c.command('CAPABILITY')).untagged).join(' '), /STARTTLS/);
    assert.match((await c.command('STARTTLS')).tagged, /BAD/);
    assert.match((await c.command('NOOP')).tagged, /OK/);
    assert.match((await c.command('LOGOUT')).tagged, /OK LOGOUT completed/);
  });

  test('the capabilities are announced in the greeting, the login answer and CAPABILITY alike, and only what works', async () => {
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
    const greeting = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
    socket.destroy();
    const before = /^\* OK \[CAPABILITY ([^\]]*)\]/.exec(greeting)?.[1]?.split(' ') ?? [];
    const c = await open(proxy.port, { login: false });
    assert.deepEqual(text((await c.command('CAPABILITY')).untagged), [`* CAPABILITY ${before.join(' ')}`]);
    const login = (await c.command('LOGIN test pass')).tagged.toString();
    const after = /OK \[CAPABILITY ([^\]]*)\]/.exec(login)?.[1]?.split(' ') ?? [];
    assert.deepEqual(text((await c.command('CAPABILITY')).untagged), [`* CAPABILITY ${after.join(' ')}`]);
    // the same list, less how to log in, plus what is passed through to upstream where it has it
    assert.deepEqual(before.filter((cap) => !/^(AUTH=|SASL-IR|STARTTLS|LOGINDISABLED)/.test(cap)), after.filter((cap) => cap !== 'BINARY'));
    assert.ok(after.includes('BINARY'), 'BINARY: Dovecot has it');
    for (const cap of ['IMAP4rev1', 'IDLE', 'CONDSTORE', 'UIDPLUS', 'MOVE', 'SPECIAL-USE', 'ENABLE']) assert.ok(after.includes(cap), cap);
    for (const cap of ['XLIST', 'QUOTA', 'AUTH=PLAIN-CLIENTTOKEN']) assert.ok(!before.includes(cap) && !after.includes(cap), `${cap} is not offered`);
  });

  test('the greeting comes first, also for a client that sends before it', async () => {
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('a1 CAPABILITY\r\na2 LOGOUT\r\n');
    let received = '';
    for await (const chunk of socket) received += (chunk as Buffer).toString('latin1');
    assert.match(received, /^\* OK \[CAPABILITY IMAP4rev1 [^\]]*\] imap-cache-proxy ready\r\n/);
    assert.match(received, /a1 OK/);
  });
});

describe('changes made elsewhere', () => {
  test('flags changed through another proxy and by a direct client are shown at the next SELECT and NOOP', async () => {
    const other = await startTestProxy(dovecot);
    const flagsOf = async (client: RawImapClient) =>
      (await client.command('UID FETCH 1:* (FLAGS)')).untagged
        .map((line) => fetchItems(line).items)
        .map((items) => `${items.get('UID')} ${flagSet(items.get('FLAGS'))}`);
    const here = await open(proxy.port);
    await here.command('SELECT Archive');
    await flagsOf(here); // cached, and a status just seen (LIST-STATUS) as a client's folder pane does
    await here.command('LIST "" "*"');
    const elsewhere = await open(other.port);
    await elsewhere.command('SELECT Archive');
    assert.match((await elsewhere.command('STORE 1:5 +FLAGS.SILENT ($Elsewhere)')).tagged, /OK/);
    const direct = await open(dovecot.port);
    await direct.command('SELECT Archive');
    assert.match((await direct.command('STORE 6:10 FLAGS.SILENT (\\Flagged)')).tagged, /OK/);
    const expected = await flagsOf(direct);
    const fresh = await open(proxy.port);
    await fresh.command('SELECT Archive');
    assert.deepEqual(await flagsOf(fresh), expected, 'a new SELECT');
    const noop = text((await here.command('NOOP')).untagged);
    assert.ok(noop.some((line) => /FETCH .*\$Elsewhere/.test(line)), noop.join('\n'));
    assert.deepEqual(await flagsOf(here), expected, 'the session that had it selected, after NOOP');
    await other.close();
  });
});

describe('several sessions on one mailbox at once', () => {
  test('storing, expunging, appending and fetching together: no error, whole bodies, and in the end every session sees what Dovecot has', async () => {
    const SESSIONS = 6;
    const ROUNDS = 15;
    const setup = await open(proxy.port);
    await setup.command('CREATE Busy');
    for (let i = 0; i < 30; i++) await append(setup, 'Busy', `busy-${i}`);
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => open(proxy.port)));
    for (const s of sessions) await s.command('SELECT Busy');
    const direct = await open(dovecot.port);
    const failures: string[] = [];
    const check = (what: string, tagged: string) => {
      if (!/^T\d+ OK/.test(tagged)) failures.push(`${what}: ${tagged}`);
    };
    await Promise.all(
      sessions.map(async (s, n) => {
        for (let round = 0; round < ROUNDS; round++) {
          switch ((n + round) % 4) {
            case 0:
              check('STORE', (await s.command(`UID STORE 1:* +FLAGS ($Busy${n})`)).tagged);
              break;
            case 1: {
              const uids = text((await s.command('UID SEARCH ALL')).untagged).join(' ').match(/\d+/g) ?? [];
              const victim = uids[(n * 7 + round) % Math.max(uids.length, 1)];
              if (victim) {
                check('STORE', (await s.command(`UID STORE ${victim} +FLAGS.SILENT (\\Deleted)`)).tagged);
                check('UID EXPUNGE', (await s.command(`UID EXPUNGE ${victim}`)).tagged);
              }
              break;
            }
            case 2:
              check('APPEND', (await append(s, 'Busy', `busy-${n}-${round}`)).tagged);
              break;
            default: {
              const fetched = await s.command('UID FETCH 1:* (UID BODY.PEEK[])');
              // a message another session expunged meanwhile may be reported gone (RFC 2180)
              if (!/^T\d+ (OK|NO \[EXPUNGEISSUED\])/.test(fetched.tagged)) failures.push(`FETCH: ${fetched.tagged}`);
              for (const line of fetched.untagged) {
                const { items } = fetchItems(line);
                const body = items.get('BODY[]');
                if (body !== undefined && !/body of busy-/.test(body.toString())) failures.push(`FETCH: a wrong body for UID ${items.get('UID')}`);
              }
            }
          }
        }
      }),
    );
    const errors = () => proxy.logs.filter((line) => Number(line['level']) >= 50);
    assert.deepEqual(failures, [], JSON.stringify(errors().slice(0, 2), null, 1));
    // Dovecot's state, and each session's after a NOOP: the same UIDs, flags and bodies
    await direct.command('SELECT Busy');
    const state = async (client: RawImapClient) => {
      await client.command('NOOP');
      const fetched = await client.command('UID FETCH 1:* (UID FLAGS BODY.PEEK[])');
      return fetched.untagged
        .map((line) => fetchItems(line).items)
        .map((items) => `${items.get('UID')} ${flagSet(items.get('FLAGS'))} ${createHash('sha256').update(items.get('BODY[]') as Buffer).digest('hex')}`)
        .sort();
    };
    const expected = await state(direct);
    assert.ok(expected.length > 0);
    for (const s of sessions) assert.deepEqual(await state(s), expected);
    assert.deepEqual(errors(), [], 'errors in the proxy log');
  });
});
