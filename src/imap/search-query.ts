import { ProxyError } from '../model/errors.js';
import { toSequenceSet } from '../model/uid-set.js';
import { atom, type Token } from '../upstream/imap-tokens.js';
import type { ImapSession, ImapToken } from './imap-core.js';
import { stateOf } from './session-state.js';

/**
 * SEARCH goes upstream with the client's own criteria. imap-core flattens the parsed query
 * (losing parenthesised groups), so the raw arguments are kept per session (core-patches.ts) and
 * compiled here: sequence sets of the client's view become UID sets, the rest passes through as
 * the client wrote it.
 */
export function takeSearchArguments(session: ImapSession): ImapToken[] {
  const state = stateOf(session);
  const raw = state.searchArguments;
  state.searchArguments = [];
  return raw;
}

/** Keys and how many plain arguments they take; NOT, OR, UID and MODSEQ are handled apart. */
const ARITY: Record<string, number> = {
  ALL: 0, ANSWERED: 0, DELETED: 0, DRAFT: 0, FLAGGED: 0, NEW: 0, OLD: 0, RECENT: 0, SEEN: 0,
  UNANSWERED: 0, UNDELETED: 0, UNDRAFT: 0, UNFLAGGED: 0, UNSEEN: 0,
  BCC: 1, BEFORE: 1, BODY: 1, CC: 1, FROM: 1, KEYWORD: 1, LARGER: 1, ON: 1, SENTBEFORE: 1, SENTON: 1,
  SENTSINCE: 1, SINCE: 1, SMALLER: 1, SUBJECT: 1, TEXT: 1, TO: 1, UNKEYWORD: 1, OLDER: 1, YOUNGER: 1,
  HEADER: 2,
};

const SEQUENCE_SET = /^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$/;

type RawItem = ImapToken | ImapToken[];

export function compileSearch(raw: readonly RawItem[], resolveSequence: (set: string) => number[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  const first = raw[0];
  if (first && !Array.isArray(first) && first.value.toUpperCase() === 'CHARSET') {
    out.push(atom('CHARSET'), passThrough(raw[1]));
    i = 2;
  }
  while (i < raw.length) i = compileKey(raw, i, out, resolveSequence);
  return out;
}

function compileKey(raw: readonly RawItem[], i: number, out: Token[], resolveSequence: (set: string) => number[]): number {
  const item = raw[i];
  if (item === undefined) throw invalid('incomplete search query');
  if (Array.isArray(item)) {
    const group: Token[] = [];
    let j = 0;
    while (j < item.length) j = compileKey(item, j, group, resolveSequence);
    out.push(group);
    return i + 1;
  }
  const key = item.value.toUpperCase();
  if (key === 'NOT') {
    out.push(atom('NOT'));
    return compileKey(raw, i + 1, out, resolveSequence);
  }
  if (key === 'OR') {
    out.push(atom('OR'));
    return compileKey(raw, compileKey(raw, i + 1, out, resolveSequence), out, resolveSequence);
  }
  if (key === 'UID') {
    out.push(atom('UID'), passThrough(raw[i + 1]));
    return i + 2;
  }
  if (key === 'MODSEQ') {
    // MODSEQ [entry-name entry-type-req] mod-sequence-valzer
    const hasEntry = raw[i + 2] !== undefined && !Array.isArray(raw[i + 1]) && !/^\d+$/.test((raw[i + 1] as ImapToken).value);
    const count = hasEntry ? 3 : 1;
    out.push(atom('MODSEQ'), ...argumentsOf(raw, i, count));
    return i + 1 + count;
  }
  const arity = ARITY[key];
  if (arity !== undefined) {
    out.push(atom(key), ...argumentsOf(raw, i, arity));
    return i + 1 + arity;
  }
  if (SEQUENCE_SET.test(item.value)) {
    const uids = resolveSequence(item.value);
    // an empty set matches nothing; UID sets cannot be empty
    if (uids.length === 0) out.push(atom('NOT'), atom('ALL'));
    else out.push(atom('UID'), atom(toSequenceSet(uids)));
    return i + 1;
  }
  throw invalid(`unknown search key ${item.value}`);
}

/** The `count` arguments after the key at `i`; a key missing some is an invalid query. */
function argumentsOf(raw: readonly RawItem[], i: number, count: number): Token[] {
  const args = raw.slice(i + 1, i + 1 + count);
  if (args.length < count) throw invalid(`missing argument of ${(raw[i] as ImapToken).value}`);
  return args.map(passThrough);
}

/** Arguments keep their kind; imap-core reads 8-bit strings as binary, imapflow writes UTF-8. */
function passThrough(item: RawItem | undefined): Token {
  if (item === undefined) throw invalid('missing search argument');
  if (Array.isArray(item)) throw invalid('unexpected list in search arguments');
  const value = Buffer.from(item.value, 'binary').toString('utf8');
  return item.type.toUpperCase() === 'ATOM' || item.type.toUpperCase() === 'SEQUENCE' ? atom(value) : { type: 'STRING', value };
}

function invalid(message: string): ProxyError {
  return new ProxyError('UPSTREAM_BAD', message, { clientText: `Invalid search: ${message}` });
}
