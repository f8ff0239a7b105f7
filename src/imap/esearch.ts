import { toSequenceSet } from '../model/uid-set.js';
import type { SortStep } from '../sync/sort/sort-program.js';
import type { ImapToken } from './imap-core.js';

/** What a SEARCH RETURN (...) asks for (RFC 4731, RFC 5267): the answer becomes one ESEARCH line. */
export interface SearchReturn {
  tag: string;
  uid: boolean;
  /** MIN, MAX, COUNT, ALL, PARTIAL, UPDATE, CONTEXT, SAVE; an empty RETURN () means ALL. */
  options: Set<string>;
  /** PARTIAL low:high: the results at these positions (1-based, in the order of the answer). */
  partial?: [number, number];
  /** The criteria, for a search kept UPDATEd (search-context.ts). */
  criteria?: ImapToken[];
  /** A SORT RETURN: its sort program (a result kept UPDATEd stays in that order). */
  steps?: SortStep[];
  /** With a MODSEQ criterion: the highest mod-sequence of the messages the answer reports (RFC 7162 3.1.5). */
  modseq?: string;
}

const OPTIONS = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'PARTIAL', 'UPDATE', 'CONTEXT', 'SAVE']);

/**
 * Takes `RETURN (options)` off the front of SEARCH's arguments. Returns the options and the
 * criteria that follow; undefined when there is no RETURN; a reason when it is malformed or asks
 * for what the proxy does not offer.
 */
export function takeSearchReturn(
  args: readonly (ImapToken | ImapToken[])[],
): { options: Set<string>; partial?: [number, number]; criteria: (ImapToken | ImapToken[])[] } | string | undefined {
  const first = args[0];
  if (!first || Array.isArray(first) || String(first.value).toUpperCase() !== 'RETURN') return undefined;
  const list = args[1];
  if (!Array.isArray(list)) return 'RETURN needs a list of options';
  const options = new Set<string>();
  let partial: [number, number] | undefined;
  for (let i = 0; i < list.length; i++) {
    const item = list[i] as ImapToken | ImapToken[];
    const option = Array.isArray(item) ? '' : String(item.value).toUpperCase();
    if (!OPTIONS.has(option)) return `Unknown RETURN option ${option || '(a list)'}`;
    options.add(option);
    if (option !== 'PARTIAL') continue;
    // PARTIAL low:high (RFC 5267 4.4): positions from 1, either way round
    const range = /^(\d+):(\d+)$/.exec(String((list[++i] as ImapToken | undefined)?.value ?? ''));
    const [low, high] = [Number(range?.[1]), Number(range?.[2])];
    if (!range || low < 1 || high < 1) return 'PARTIAL needs a range of positions, as 1:100';
    partial = [Math.min(low, high), Math.max(low, high)];
  }
  // as Dovecot: both name the same messages (RFC 5267 4.4 leaves it open)
  if (options.has('PARTIAL') && options.has('ALL')) return 'PARTIAL conflicts with ALL';
  if (options.size === 0) options.add('ALL');
  return { options, ...(partial ? { partial } : {}), criteria: args.slice(2) };
}

/**
 * The ESEARCH line of a SEARCH or SORT RETURN: `numbers` are what it found (sequence numbers, or
 * UIDs for UID SEARCH / UID SORT) in the order of its answer, ascending for a SEARCH, in sort order
 * for a SORT (ESORT, RFC 5267 3: MIN and MAX are then the first and last in that order, ALL and
 * PARTIAL list them in that order). Items in Dovecot's order (MIN MAX ALL PARTIAL COUNT MODSEQ); '' when nothing is to be sent.
 */
export function esearchLine(numbers: readonly number[], request: SearchReturn): string {
  const { options } = request;
  // SAVE alone: the result is kept, and not sent (RFC 5182 2.4)
  if (options.size === 1 && options.has('SAVE')) return '';
  const parts = [`* ESEARCH (TAG "${request.tag}")`];
  if (request.uid) parts.push('UID');
  if (numbers.length > 0) {
    if (options.has('MIN')) parts.push(`MIN ${numbers[0]}`);
    if (options.has('MAX')) parts.push(`MAX ${numbers[numbers.length - 1]}`);
    if (options.has('ALL')) parts.push(`ALL ${toSequenceSet(numbers)}`);
  }
  if (request.partial) {
    const [low, high] = request.partial;
    const range = numbers.slice(low - 1, high);
    parts.push(`PARTIAL (${low}:${high} ${range.length ? toSequenceSet(range) : 'NIL'})`);
  }
  if (options.has('COUNT')) parts.push(`COUNT ${numbers.length}`);
  if (request.modseq && numbers.length > 0) parts.push(`MODSEQ ${request.modseq}`);
  return parts.join(' ');
}

/** The numbers of a `* SEARCH` line imap-core composed, ascending. */
export function searchNumbers(searchLine: string): number[] {
  return searchLine
    .replace(/^\* SEARCH/, '')
    .replace(/\(MODSEQ \d+\)\s*$/, '')
    .trim()
    .split(' ')
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The messages an ESEARCH answer reports, of those found (in its order): what its MODSEQ is the highest of. */
export function reportedMessages<T>(found: readonly T[], options: ReadonlySet<string>): T[] {
  if (found.length === 0 || options.has('ALL') || options.has('COUNT') || options.has('PARTIAL')) return [...found];
  const reported = new Set<T>();
  if (options.has('MIN')) reported.add(found[0] as T);
  if (options.has('MAX')) reported.add(found[found.length - 1] as T);
  return [...reported];
}
