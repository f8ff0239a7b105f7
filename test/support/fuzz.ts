// Hostile client input from a seeded PRNG: random bytes, and valid IMAP commands mutated
// (truncated, with bad literals, odd nesting, huge numbers, NUL bytes, ...).
import net from 'node:net';
import type { Rng } from './prng.js';

/** Commands before login. The user names are not accounts of the tests: failures are expected. */
export const PRE_AUTH_COMMANDS = [
  'CAPABILITY',
  'NOOP',
  'ID ("name" "fuzz" "version" "1.0")',
  'LOGIN mallory wrong-password',
  'LOGIN "mallory" {14}\r\nwrong-password',
  `AUTHENTICATE PLAIN ${Buffer.from('\0mallory\0wrong').toString('base64')}`,
  `AUTHENTICATE PLAIN\r\n${Buffer.from('\0eve\0wrong').toString('base64')}`,
  'STARTTLS',
  'SELECT INBOX',
  'ENABLE CONDSTORE',
  'LOGOUT',
];

/** Commands of a logged-in session with INBOX selected. */
export const SESSION_COMMANDS = [
  'SELECT INBOX',
  'SELECT INBOX (CONDSTORE)',
  'EXAMINE "Archive/2024"',
  'FETCH 1:* (FLAGS UID)',
  'UID FETCH 1:5 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[]<0.100>)',
  'FETCH 1 (BODYSTRUCTURE ENVELOPE INTERNALDATE RFC822.SIZE)',
  'FETCH 2 (BODY.PEEK[1.2] BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<5.10> RFC822.HEADER)',
  'FETCH 1:3 (FLAGS) (CHANGEDSINCE 1)',
  'UID FETCH 1:* (UID MODSEQ) (CHANGEDSINCE 1)',
  'UID SEARCH OR FROM alice SUBJECT report',
  'SEARCH (OR (SEEN) (NOT (DELETED))) SINCE 1-Jan-2020 LARGER 100',
  'SEARCH CHARSET UTF-8 BODY "x" TEXT {3}\r\nabc',
  'UID SEARCH UID 1:10 HEADER "X-Foo" "bar" MODSEQ 1',
  'STATUS INBOX (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)',
  'LIST "" "*"',
  'LIST "" "%"',
  'LSUB "" "*"',
  'STORE 1 +FLAGS (\\Flagged)',
  'UID STORE 1:3 -FLAGS.SILENT (\\Seen $Work)',
  'STORE 2 FLAGS (\\Seen)',
  'COPY 1:2 Trash',
  'UID MOVE 3 Trash',
  'EXPUNGE',
  'UID EXPUNGE 1:2',
  'CREATE fuzz/new',
  'RENAME fuzz/new fuzz/old',
  'DELETE fuzz/old',
  'SUBSCRIBE Trash',
  'UNSUBSCRIBE Trash',
  'APPEND INBOX (\\Seen) "01-Jan-2024 10:00:00 +0000" {40}\r\nSubject: fuzz\r\n\r\nappended by the fuzzer\r\n',
  'IDLE\r\nDONE',
  'NOOP',
  'CHECK',
  'CLOSE',
  'UNSELECT',
  'ENABLE CONDSTORE UTF8=ACCEPT',
  'NAMESPACE',
  'GETQUOTAROOT INBOX',
  'COMPRESS DEFLATE',
];

const HUGE_NUMBERS = ['0', '-1', '4294967295', '4294967296', '18446744073709551616', '99999999999999999999999999999', '1e9', '*'];
const LITERAL_SIZES = [0, 1, 7, 1024, 1025, 65536, 4294967295, 1e20];
const NESTING = ['(', ')', '[', ']', '<', '>', '"', '{', '}'];

type Mutation = (rng: Rng, text: string) => string;

const MUTATIONS: Mutation[] = [
  // truncated
  (rng, text) => text.slice(0, rng.int(0, text.length)),
  // NUL and other control bytes
  (rng, text) => insertAt(rng, text, rng.pick(['\0', '\0\0\0', '\r', '\n', '\x1b', '\x7f', '\xff'])),
  // huge or negative numbers
  (rng, text) => text.replace(/\d+/g, () => rng.pick(HUGE_NUMBERS)),
  // a bad literal: its announced size rarely matches what follows
  (rng, text) => {
    const size = rng.pick(LITERAL_SIZES);
    const sent = Math.min(rng.int(0, 64), size);
    return insertAt(rng, text, ` {${size}${rng.chance(0.2) ? '+' : ''}}\r\n${'L'.repeat(sent)}`);
  },
  // odd nesting: deep, unbalanced or mismatched brackets
  (rng, text) => {
    const depth = rng.pick([1, 3, 50, 1000, 20000]);
    const open = rng.pick(['(', '[', '((', '([<']);
    return insertAt(rng, text, open.repeat(depth).slice(0, depth) + (rng.chance(0.5) ? ')'.repeat(rng.int(0, depth)) : ''));
  },
  // stray brackets and quotes
  (rng, text) => insertAt(rng, text, rng.pick(NESTING)),
  // tokens dropped, repeated or swapped
  (rng, text) => {
    const tokens = text.split(' ');
    const i = rng.int(0, tokens.length - 1);
    const j = rng.int(0, tokens.length - 1);
    const op = rng.int(0, 2);
    if (op === 0) tokens.splice(i, 1);
    else if (op === 1) tokens.splice(i, 0, ...Array<string>(rng.int(1, 200)).fill(tokens[i] as string));
    else [tokens[i], tokens[j]] = [tokens[j] as string, tokens[i] as string];
    return tokens.join(' ');
  },
  // random bytes flipped
  (rng, text) => {
    const chars = [...text];
    for (let n = rng.int(1, 5); n > 0 && chars.length; n--) chars[rng.int(0, chars.length - 1)] = String.fromCharCode(rng.int(0, 255));
    return chars.join('');
  },
];

function insertAt(rng: Rng, text: string, insert: string): string {
  const at = rng.int(0, text.length);
  return text.slice(0, at) + insert + text.slice(at);
}

/** `command` with a tag (sometimes a bad one) and one to three mutations; may lack its line end. */
export function mutate(rng: Rng, command: string): Buffer {
  const tag = rng.chance(0.9) ? `F${rng.int(1, 9999)}` : rng.pick(['', '*', '+', '(', 'A"B', 'x'.repeat(300)]);
  let text = `${tag} ${command}`;
  for (let n = rng.int(1, 3); n > 0; n--) text = rng.pick(MUTATIONS)(rng, text);
  return Buffer.from(rng.chance(0.9) ? `${text}\r\n` : text, 'latin1');
}

/** A valid command with a tag and its line end. */
export function valid(rng: Rng, command: string): Buffer {
  return Buffer.from(`V${rng.int(1, 9999)} ${command}\r\n`, 'latin1');
}

/** Up to `max` random bytes, ending with a line end so that the server has something to answer. */
export function randomBytes(rng: Rng, max: number): Buffer {
  return Buffer.concat([rng.bytes(rng.int(1, max)), Buffer.from('\r\n')]);
}

export interface HostileResult {
  /** Everything the server sent, the greeting included. */
  output: string;
  /** The server closed the connection (or reset it). */
  closed: boolean;
}

/**
 * Connects, writes `chunks` at once (without waiting for the greeting or any answer) and
 * collects what comes back until the server closes the connection, or has answered and then
 * been silent for `quietMs`, or `maxMs` have passed; then drops the connection.
 */
export function sendHostile(
  port: number,
  chunks: Buffer[],
  opts: { localAddress?: string; quietMs?: number; maxMs?: number } = {},
): Promise<HostileResult> {
  const { quietMs = 300, maxMs = 5000 } = opts;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    let output = '';
    let closed = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ output, closed });
    };
    const deadline = setTimeout(finish, maxMs);
    // answered: a line besides the greeting
    const rearm = () => {
      clearTimeout(quiet);
      if (output.split('\r\n').length > 2) quiet = setTimeout(finish, quietMs);
    };
    socket.on('error', () => undefined); // a reset shows as the close that follows
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('data', (data: Buffer) => {
      output += data.toString('latin1');
      rearm();
    });
    socket.once('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.write(Buffer.alloc(0), rearm);
    });
  });
}
