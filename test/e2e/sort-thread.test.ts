// SORT, THREAD and ESORT through the proxy answer as Dovecot does, over a mailbox of odd messages
// (list tags, forwards, encoded words, missing and zoned dates, broken References, group syntax)
// and a generated corpus: with SORT and THREAD upstream, with them hidden upstream (the proxy
// answers from its cache either way), and with upstream stopped once the cache is warm.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { type Dovecot, withDovecot } from '../support/dovecot.js';
import { deliver, type MailMessage } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';

/** A message of these header lines (CRLF added), delivered with this INTERNALDATE. */
function message(minute: number, headers: string[], flags: string[] = []): MailMessage {
  const bytes = Buffer.from([...headers, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', `Body of message ${minute}.`, ''].join('\r\n'));
  return { folder: 'INBOX', flags, internalDate: new Date(Date.UTC(2024, 2, 1, 12, minute)), size: bytes.length, vsize: bytes.length, chunks: () => [bytes] };
}

const ODD: MailMessage[] = [
  message(0, ['Date: Fri, 1 Mar 2024 10:00:00 +0000', 'From: "Zed Last" <zed@example.org>', 'To: list@example.com', 'Subject: Re: Fwd: [list] Re: x', 'Message-ID: <a@x>'], ['\\Seen']),
  message(1, ['Date: Fri, 1 Mar 2024 10:00:00 +0000', 'From: amy@example.org', 'To: "Bob" <bob@example.org>', 'Subject: x (fwd)', 'Message-ID: <b@x>', 'References: <a@x>']),
  message(2, ['Date: Fri, 1 Mar 2024 05:00:00 -0800', 'From: =?UTF-8?B?w4RybmUgw5Zzdg==?= <arne@example.org>', 'To: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.org>', 'Subject: [a] [b] x', 'Message-ID: <c@x>', 'In-Reply-To: <b@x>'], ['\\Seen', '\\Flagged']),
  message(3, ['From: "No Date" <nodate@example.org>', 'To: undisclosed-recipients:;', 'Subject: =?UTF-8?B?w6lsw6h2ZSDDoCBsJ8OpY29sZQ==?=', 'Message-ID: <d@x>', 'References: <missing@x> <c@x>']),
  message(4, ['Date: Sat, 2 Mar 2024 01:30:00 +0530', 'Subject: =?ISO-8859-1?Q?=C0_propos_de_x?=', 'Message-ID: <e@x>', 'References: <gone1@x> <gone2@x>']),
  message(5, ['Date: Fri, 1 Mar 2024 10:00:00 +0000', 'From: Friends: carol@example.org, dave@example.org;', 'Cc: "Eve" <eve@example.org>, frank@example.org', 'Subject: Re: x', 'Message-ID: <a@x>'], ['\\Seen']),
  message(6, ['Date: Thu, 29 Feb 2024 23:59:59 -1200', 'From: <bare@example.org>', 'To: "Zoë" <zoe@example.org>, adam@example.org', 'Subject: RE: re: Fwd: x', 'In-Reply-To: <e@x>']),
  message(7, ['Date: Fri, 1 Mar 2024 10:00:00 +0000', 'From: "Amy" <amy@example.org>', 'Cc: zack@example.org', 'Subject: Y', 'Message-ID: <f@x>', 'References: <f@x>']),
  message(8, ['Date: not a date at all', 'To: "Alpha" <omega@example.org>', 'Subject: [list] y', 'Message-ID: <g@x>', 'References: <b@x> <a@x>']),
  message(9, ['Date: Fri, 1 Mar 2024 10:00:00 GMT', 'From: "Bob" <bob@example.org>', 'To: list@example.com', 'Message-ID: <h@x>', 'In-Reply-To: <nowhere@x>'], ['\\Seen']),
];

const KEYS = ['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO'];

/** The commands compared, each as the client sends it. */
const COMMANDS = [
  ...KEYS.flatMap((key) => [`SORT (${key}) UTF-8 ALL`, `SORT (REVERSE ${key}) UTF-8 ALL`, `UID SORT (${key}) UTF-8 ALL`]),
  'SORT (SUBJECT REVERSE DATE) UTF-8 ALL',
  'SORT (FROM TO CC SIZE) UTF-8 ALL',
  'SORT (REVERSE DISPLAYFROM ARRIVAL) UTF-8 ALL',
  'SORT (DATE) UTF-8 SEEN',
  'SORT (SUBJECT) UTF-8 UNSEEN',
  'SORT (ARRIVAL) UTF-8 SUBJECT x',
  'SORT (SUBJECT) US-ASCII OR FLAGGED FROM amy',
  'UID SORT (REVERSE SIZE) UTF-8 UID 3:20',
  'SORT (DATE) UTF-8 5:12',
  'THREAD REFERENCES UTF-8 ALL',
  'THREAD ORDEREDSUBJECT UTF-8 ALL',
  'UID THREAD REFERENCES UTF-8 ALL',
  'UID THREAD ORDEREDSUBJECT UTF-8 ALL',
  'THREAD REFERENCES UTF-8 SEEN',
  'UID THREAD REFERENCES UTF-8 UID 1:15',
  'SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL',
  'UID SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL',
  'SORT RETURN () (FROM) UTF-8 ALL',
  'SORT RETURN (PARTIAL 3:7) (SUBJECT) UTF-8 ALL',
  'UID SORT RETURN (PARTIAL 9:2 COUNT) (REVERSE ARRIVAL) UTF-8 ALL',
  'SORT RETURN (MIN) (SIZE) UTF-8 SUBJECT nothing-matches',
  'SORT RETURN (COUNT) (SIZE) UTF-8 SUBJECT nothing-matches',
  'SORT RETURN (SAVE MIN MAX) (SUBJECT) UTF-8 ALL',
  'UID FETCH $ (UID)',
];

/**
 * What a command answered, comparable across servers: its SORT / THREAD / ESEARCH / FETCH lines
 * and its tagged answer without tag or timing (Dovecot's "Fetch completed" is imap-core's "UID FETCH completed").
 */
async function answer(client: RawImapClient, command: string): Promise<string[]> {
  const { untagged, tagged } = await client.command(command);
  const lines = untagged.map((line) => line.toString('latin1')).filter((line) => /^\* (SORT|THREAD|ESEARCH|\d+ FETCH)\b/.test(line));
  return [...lines.map((line) => line.replace(/\(TAG "[^"]*"\)/, '(TAG $tag)')), tagged.replace(/^\S+ /, '').replace(/ \(\d[^)]*\)\.?$/, '').toLowerCase().replace(/^ok uid /, 'ok ')];
}

/** Every command's answer in INBOX, in one session. */
async function answers(client: RawImapClient): Promise<Map<string, string[]>> {
  assert.match((await client.command('SELECT INBOX')).tagged, /OK/);
  const result = new Map<string, string[]>();
  for (const command of COMMANDS) result.set(command, await answer(client, command));
  return result;
}

/** Each command answered alike by both: the commands answered otherwise, with both answers. */
function assertSame(actual: Map<string, string[]>, expected: Map<string, string[]>): void {
  const differing = COMMANDS.filter((command) => JSON.stringify(actual.get(command)) !== JSON.stringify(expected.get(command)));
  assert.deepEqual(
    differing.map((command) => ({ command, answer: actual.get(command) })),
    differing.map((command) => ({ command, answer: expected.get(command) })),
  );
}

/** A Dovecot holding the odd messages, then a corpus, in INBOX. */
async function dovecotWithMail(capabilities?: string): Promise<Dovecot> {
  const dovecot = await withDovecot(capabilities ? { capabilities } : {});
  await deliver(dovecot.mailDir(), ODD);
  await deliver(dovecot.mailDir(), generateCorpus({ seed: 77, messages: 60, folders: 'INBOX:1', bigFraction: 0 }));
  return dovecot;
}

const connect = suiteClients();
const dovecot = await dovecotWithMail();
const direct = await answers(await connect(dovecot.port));
const proxy = await startTestProxy(dovecot);

describe('SORT, THREAD and ESORT through the proxy, as Dovecot answers them', () => {
  test('sanity: Dovecot answers every command', () => {
    for (const [command, lines] of direct) assert.match(lines.at(-1) ?? '', /^ok/, command);
    assert.ok((direct.get('SORT (SUBJECT) UTF-8 ALL')?.[0]?.split(' ').length ?? 0) > 60);
  });

  test('with SORT and THREAD upstream', async () => {
    assertSame(await answers(await connect(proxy.port)), direct);
  });

  test('the tagged answers name the command as Dovecot does, UID or not', async () => {
    const client = await connect(proxy.port);
    await client.command('SELECT INBOX');
    assert.match((await client.command('UID SORT (DATE) UTF-8 ALL')).tagged, /^T\d+ OK Sort completed$/);
    assert.match((await client.command('UID THREAD REFERENCES UTF-8 ALL')).tagged, /^T\d+ OK Thread completed$/);
    assert.match((await client.command('SEARCH ALL')).tagged, /^T\d+ OK SEARCH completed$/);
  });

  test('SORT RETURN (UPDATE) (CONTEXT=SORT, which Dovecot lacks): messages leave and rejoin the result at their positions in sort order', async () => {
    const client = await connect(proxy.port);
    await client.command('SELECT INBOX');
    const all = String((await client.command('SORT RETURN (ALL UPDATE) (SUBJECT) UTF-8 UNSEEN')).untagged[0]);
    const sorted = (/ ALL (\S+)/.exec(all)?.[1] ?? '').split(',').flatMap((part) => {
      const [from, to = from] = part.split(':').map(Number) as [number, number?];
      return Array.from({ length: (to as number) - from + 1 }, (_, i) => from + i);
    });
    const [second, fourth] = [sorted[1] as number, sorted[3] as number];
    const tag = /\(TAG "[^"]+"\)/.exec(all)?.[0];
    const updates = async (command: string) => (await client.command(command)).untagged.map(String).filter((line) => line.startsWith('* ESEARCH'));
    // the second goes first, then what was fourth is third
    assert.deepEqual(await updates(`STORE ${second},${fourth} +FLAGS.SILENT (\\Seen)`), [`* ESEARCH ${tag} REMOVEFROM (2 ${second} 3 ${fourth})`]);
    assert.deepEqual(await updates(`STORE ${second},${fourth} -FLAGS.SILENT (\\Seen)`), [`* ESEARCH ${tag} ADDTO (2 ${second} 4 ${fourth})`]);
  });

  test('with SORT, THREAD and ESORT hidden upstream', async () => {
    const hidden = await dovecotWithMail('IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS MOVE NAMESPACE CONDSTORE ESEARCH SEARCHRES');
    const cutDown = await startTestProxy(hidden);
    const client = await connect(cutDown.port);
    assert.match(client.greeting, /\bSORT\b.*\bTHREAD=REFERENCES\b/);
    assertSame(await answers(client), direct);
  });

  test('with upstream stopped once the cache is warm', async () => {
    const warm = proxy.port;
    await answers(await connect(warm));
    await dovecot.stop();
    assertSame(await answers(await connect(warm)), direct);
  });
});
