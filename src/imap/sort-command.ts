import { TextDecoder } from 'node:util';
import { SORT_KEYS, type SortStep } from '../sync/sort/sort-program.js';
import { THREAD_ALGORITHMS, type ThreadAlgorithm } from '../sync/sort/threads.js';

/** A SORT or THREAD (RFC 5256) the proxy answers: imap-core runs its criteria as a SEARCH. */
export type SortRequest =
  | { kind: 'sort'; uid: boolean; steps: SortStep[] }
  | { kind: 'thread'; uid: boolean; algorithm: ThreadAlgorithm }
  /** Malformed: answered BAD, or NO [BADCHARSET], before anything runs. */
  | { kind: 'refused'; response: 'BAD' | 'NO'; code?: string; message: string };

const COMMAND = /^(\S+) (UID )?(SORT|THREAD)(?: (.*))?$/i;
/** A charset as an atom or a quoted string, then the criteria. */
const CHARSET_AND_CRITERIA = /^("[^"]*"|[^\s()"]+)(?: (.*))?$/;

function knownCharset(name: string): boolean {
  try {
    new TextDecoder(name.toLowerCase());
    return true;
  } catch {
    return false;
  }
}

function sortSteps(list: string): SortStep[] | string {
  const words = list.trim().split(/\s+/).filter(Boolean);
  const steps: SortStep[] = [];
  for (let i = 0; i < words.length; i++) {
    const reverse = (words[i] as string).toUpperCase() === 'REVERSE';
    const word = (reverse ? words[++i] : words[i])?.toUpperCase();
    const column = word ? SORT_KEYS[word] : undefined;
    if (!column) return word ? `Unknown sort key ${word}` : 'REVERSE needs a sort key after it';
    steps.push({ column, reverse });
  }
  return steps.length ? steps : 'Empty sort program';
}

/** `RETURN (options)` before a SORT's keys (ESORT, RFC 5267 3): it goes on to the SEARCH, whose RETURN it is. */
const SORT_RETURN = /^(RETURN \([^()]*\)) (.*)$/i;

/**
 * The first line of a command: a SORT or THREAD becomes the SEARCH imap-core knows
 * (`tag [UID ]SEARCH [RETURN (...) ]CHARSET cs criteria`), with what else it asks; any other line
 * is left as it is.
 */
export function rewriteSortCommand(line: string): { line: string; request?: SortRequest } {
  const match = COMMAND.exec(line);
  if (!match) return { line };
  const [, tag, uidPrefix, name, rest = ''] = match as unknown as [string, string, string | undefined, string, string | undefined];
  const uid = !!uidPrefix;
  let returns = '';
  const search = (charset: string, criteria: string) => `${tag} ${uid ? 'UID ' : ''}SEARCH ${returns}CHARSET ${charset} ${criteria}`;
  const refuse = (message: string, response: 'BAD' | 'NO' = 'BAD', code?: string) => ({
    line: search('UTF-8', 'ALL'),
    request: { kind: 'refused' as const, response, message, ...(code ? { code } : {}) },
  });
  let request: SortRequest;
  let tail: string;
  if (name.toUpperCase() === 'SORT') {
    const esort = SORT_RETURN.exec(rest);
    const list = /^\(([^()]*)\) (.*)$/.exec(esort ? (esort[2] as string) : rest);
    if (!list) return refuse(esort || /^RETURN\b/i.test(rest) ? 'SORT RETURN needs (options), then the sort keys' : 'SORT needs a list of sort keys');
    const steps = sortSteps(list[1] as string);
    if (typeof steps === 'string') return refuse(steps);
    request = { kind: 'sort', uid, steps };
    tail = list[2] as string;
    if (esort) returns = `${esort[1]} `;
  } else {
    const [algorithm = '', after = ''] = rest.split(/ (.*)/s);
    const known = algorithm.toUpperCase();
    if (!(known in THREAD_ALGORITHMS)) return refuse(algorithm ? `Unknown thread algorithm ${algorithm}` : 'THREAD needs an algorithm');
    request = { kind: 'thread', uid, algorithm: known as ThreadAlgorithm };
    tail = after;
  }
  const parts = CHARSET_AND_CRITERIA.exec(tail);
  if (!parts?.[2]) return refuse('Missing charset or search criteria');
  const charset = (parts[1] as string).replace(/^"|"$/g, '');
  if (!knownCharset(charset)) return refuse(`Unknown charset ${charset}`, 'NO', 'BADCHARSET');
  return { line: search(parts[1] as string, parts[2] as string), request };
}
