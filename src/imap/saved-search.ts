/**
 * SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) keeps its result, and `$` names it in the
 * sequence set of a later FETCH, STORE, COPY, MOVE, UID EXPUNGE or SEARCH. imap-core knows no
 * `$`: a command line that holds one is rewritten with the saved messages before imap-core
 * parses it, as UIDs for UID commands and for SEARCH (`UID set`), as sequence numbers for the
 * others. The result is kept as UIDs, so an EXPUNGE takes its messages out (search-context.ts).
 */
import { sequenceNumbers, toSequenceSet, uidsAtSequence } from '../model/uid-set.js';
import type { SearchReturn } from './esearch.js';
import type { ImapSession } from './imap-core.js';
import { stateOf } from './session-state.js';

/** A set that names no message: UIDs and sequence numbers never reach it. */
const NOTHING = '4294967295';

/** The commands with a sequence set `$` may stand for. */
const WITH_SET = /^(\S+ )(UID )?(FETCH|STORE|COPY|MOVE|SEARCH|EXPUNGE)( .*)$/i;
/** `$` as a word of its own (in a list of criteria too). */
const DOLLAR = /(?<=[ (])\$(?=[ )]|$)/;
const DOLLARS = new RegExp(DOLLAR.source, 'g');

/** A SEARCH RETURN (SAVE) just answered: its result is kept (only MIN / MAX when it asked for those alone). */
export function saveResult(session: ImapSession, request: SearchReturn, numbers: readonly number[]): void {
  const uidList = (session.selected || undefined)?.uidList;
  if (!request.options.has('SAVE') || !uidList) return;
  const { options } = request;
  let kept = [...numbers];
  if (kept.length > 0 && !options.has('ALL') && !options.has('COUNT') && (options.has('MIN') || options.has('MAX'))) {
    kept = [...new Set([...(options.has('MIN') ? [kept[0] as number] : []), ...(options.has('MAX') ? [kept[kept.length - 1] as number] : [])])];
  }
  stateOf(session).savedResult = request.uid ? kept : uidsAtSequence(uidList, kept);
}

/** The command line with `$` replaced by the saved result; the line as it is without one. */
export function substituteSaved(session: ImapSession | undefined, line: string): string {
  const command = WITH_SET.exec(line);
  const uidList = session ? (session.selected || undefined)?.uidList : undefined;
  if (!command || !uidList || !session || !DOLLAR.test(line)) return line;
  const [, tag = '', uid, verb = '', rest = ''] = command;
  const saved = stateOf(session).savedResult;
  let set: string;
  if (verb.toUpperCase() === 'SEARCH') set = `UID ${saved.length ? toSequenceSet(saved) : NOTHING}`;
  else if (uid) set = saved.length ? toSequenceSet(saved) : NOTHING;
  else {
    const seqs = sequenceNumbers(uidList, saved);
    set = seqs.length ? toSequenceSet(seqs) : NOTHING;
  }
  return `${tag}${uid ?? ''}${verb}${rest.replace(DOLLARS, set)}`;
}
