/**
 * QRESYNC (RFC 7162 3.2) toward clients, whatever upstream has: the options of SELECT / EXAMINE,
 * the VANISHED modifier of UID FETCH, and VANISHED in place of EXPUNGE once a session enabled it.
 * What changed comes from the proxy's own modseqs and its record of expunges (folder.ts).
 */
import type { UidRange } from '../model/uid-set.js';
import { normalizeRanges, parseUidRanges } from '../model/uid-set.js';
import { plainValue, type CommandArgument } from './imap-core.js';

/** What a client that reconnects knows: `QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])`. */
export interface ResyncRequest {
  uidValidity: number;
  modseq: number;
  /** The UIDs it knows, normalized; all when it names none. */
  knownUids: UidRange[];
}

/** SELECT / EXAMINE's options (RFC 7162 3.1.8, 3.2.5). */
export interface SelectOptions {
  condstore: boolean;
  qresync?: ResyncRequest;
}

const MAX_UID = 4294967295;
/** A sequence set without `*` (RFC 7162's known-uids, sequence-set and uid-set of the known set). */
const NO_STAR_SET = /^[1-9]\d*(:[1-9]\d*)?(,[1-9]\d*(:[1-9]\d*)?)*$/;
const isNumber = (text: string | undefined, max: number) => !!text && /^\d+$/.test(text) && Number(text) <= max;

/** Parses SELECT's options list; a string is the BAD answer's text (Dovecot's words). */
export function parseSelectOptions(options: CommandArgument, qresyncEnabled: boolean): SelectOptions | string {
  const result: SelectOptions = { condstore: false };
  const list = Array.isArray(options) ? options : [];
  for (let i = 0; i < list.length; i++) {
    const name = plainValue(list[i])?.toUpperCase();
    if (name === 'CONDSTORE') result.condstore = true;
    else if (name === 'QRESYNC') {
      if (!qresyncEnabled) return 'QRESYNC not enabled';
      const parsed = parseQresync(list[++i]);
      if (typeof parsed === 'string') return parsed;
      result.qresync = parsed;
    } else return 'Unknown SELECT option';
  }
  return result;
}

function parseQresync(arg: CommandArgument | CommandArgument[]): ResyncRequest | string {
  if (!Array.isArray(arg)) return 'QRESYNC parameters missing';
  const [validity, modseq, known, sample, ...rest] = arg as CommandArgument[];
  const uidValidity = plainValue(validity);
  const since = plainValue(modseq);
  if (!isNumber(uidValidity, MAX_UID) || !isNumber(since, Number.MAX_SAFE_INTEGER)) return 'Invalid QRESYNC parameters';
  const knownText = plainValue(known);
  if (known !== undefined && !Array.isArray(known) && !NO_STAR_SET.test(knownText ?? '')) return 'Invalid QRESYNC known-uids';
  // the known sequence-set / uid-set pair may stand where known-uids is left out
  const pair = Array.isArray(known) ? known : sample;
  if (pair !== undefined && (!Array.isArray(pair) || pair.length !== 2 || !pair.every((set) => NO_STAR_SET.test(plainValue(set) ?? '')))) {
    return 'Invalid QRESYNC known set';
  }
  if (rest.length > 0 || (Array.isArray(known) && sample !== undefined)) return 'Invalid QRESYNC parameters';
  return {
    uidValidity: Number(uidValidity),
    modseq: Number(since),
    knownUids: knownText && !Array.isArray(known) ? normalizeRanges(parseUidRanges(knownText)) : [[1, MAX_UID]],
  };
}

/** A UID FETCH's UID set as ranges, `*` standing for every UID up (the VANISHED modifier). */
export function requestedUids(set: string): UidRange[] {
  return normalizeRanges(parseUidRanges(set.replace(/\*/g, String(MAX_UID))));
}
