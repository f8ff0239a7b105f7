// Dovecot made to look like Gmail for X-GM-MSGID, by the test relay (throttle-relay.ts): it
// announces X-GM-EXT-1 (greeting, CAPABILITY responses and codes), and a FETCH that asks for
// X-GM-MSGID gets, in its place, a number derived from the message's Message-ID header: the same
// for every copy of a message, whatever folder (label) it is in, as Gmail's id is. The relay asks
// Dovecot for that header under a field list of its own and puts the number where the header
// came; a message without a Message-ID gets no X-GM-MSGID. Needs a corpus whose distinct
// messages have distinct Message-IDs (corpus.ts, labelled.ts).
import { createHash } from 'node:crypto';
import { type RelayOptions, type RelayTransform, type ThrottleRelay, startRelay } from './throttle-relay.js';

export const GMAIL_EXTENSION = 'X-GM-EXT-1';
/** What the relay asks Dovecot for instead of X-GM-MSGID: a field list no client asks for. */
const STAND_IN = 'BODY.PEEK[HEADER.FIELDS (MESSAGE-ID X-GM-RELAY)]';
const STAND_IN_ANSWER = 'BODY[HEADER.FIELDS (MESSAGE-ID X-GM-RELAY)]';

/** Gmail's id of a message (an unsigned 64-bit decimal): here from its Message-ID. */
export function gmailMessageId(messageId: string): string {
  return BigInt(`0x${createHash('sha256').update(messageId).digest('hex').slice(0, 15)}`).toString();
}

/** `Message-ID: <...>` of a header block; undefined without one. */
function messageIdOf(header: string): string | undefined {
  return /^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(header)?.[1]?.replace(/\r?\n/g, '').trim() || undefined;
}

/** The stand-in's value in a FETCH response (a literal or a quoted string, after `at`): its text and where it ends. */
function standInValue(text: string, at: number): { value: string; end: number } | undefined {
  const literal = /^\{(\d+)\}\r\n/.exec(text.slice(at, at + 24));
  if (literal) {
    const start = at + literal[0].length;
    return { value: text.slice(start, start + Number(literal[1])), end: start + Number(literal[1]) };
  }
  const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(text.slice(at));
  return quoted ? { value: quoted[1] ?? '', end: at + quoted[0].length } : undefined;
}

export const gmailTransform: RelayTransform = {
  command(line) {
    // FETCH and UID FETCH only: the item list of the command
    if (!/^\S+ (UID )?FETCH /i.test(line)) return line;
    return line.replace(/(?<=[( ])X-GM-MSGID(?=[ )])/gi, STAND_IN);
  },
  response(response) {
    const head = response.toString('latin1', 0, Math.min(response.length, 512));
    if (/^(\* OK \[CAPABILITY |\* CAPABILITY |\S+ OK \[CAPABILITY )/i.test(head)) {
      return Buffer.from(response.toString('latin1').replace(/\bCAPABILITY IMAP4rev1\b/i, `$& ${GMAIL_EXTENSION}`), 'latin1');
    }
    if (!/^\* \d+ FETCH /.test(head)) return response;
    const at = response.indexOf(STAND_IN_ANSWER);
    if (at < 0) return response;
    // a metadata FETCH (the stand-in comes with no body): small, rewritten as text
    const text = response.toString('latin1');
    const found = standInValue(text, at + STAND_IN_ANSWER.length + 1);
    if (!found) throw new Error(`gmail-relay: cannot read ${STAND_IN_ANSWER} in ${text.slice(0, 200)}`);
    const id = messageIdOf(found.value);
    // the item in the stand-in's place, spaced as the list has it
    const before = text.slice(0, at).replace(/ $/, '');
    const first = before.endsWith('(');
    const rest = first ? text.slice(found.end).replace(/^ /, '') : text.slice(found.end);
    const item = id === undefined ? '' : `${first ? '' : ' '}X-GM-MSGID ${gmailMessageId(id)}${first && rest[0] !== ')' ? ' ' : ''}`;
    return Buffer.from(`${before}${item}${rest}`, 'latin1');
  },
};

/** A relay in front of `target` that makes it look like Gmail for X-GM-MSGID, with the relay's other options. */
export function startGmailRelay(target: { host: string; port: number }, options: Omit<RelayOptions, 'transform'> = {}): Promise<ThrottleRelay> {
  return startRelay(target, { ...options, transform: gmailTransform });
}
