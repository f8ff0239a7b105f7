import { parseUidRanges } from '../model/uid-set.js';
import { tokenString, type OtherToken, type Token } from './imap-tokens.js';

/** The [CODE arg ...] of a status response, uppercased code first; undefined if it has none. */
export function responseCode(attributes: Token[] | undefined): string[] | undefined {
  const first = attributes?.[0] as { section?: Token[] } | undefined;
  if (!first || !Array.isArray(first.section)) return undefined;
  return first.section.map((token) => (Array.isArray(token) ? '' : (tokenString(token) ?? ''))).map((v, i) => (i === 0 ? v.toUpperCase() : v));
}

/** Expands a UID set that names a known, small number of messages (COPYUID, MODIFIED). */
export function expandUidSet(set: string, limit: number): number[] {
  const uids: number[] = [];
  for (const [from, to] of parseUidRanges(set)) {
    for (let uid = from; uid <= to && uids.length <= limit; uid++) uids.push(uid);
  }
  return uids;
}

export interface CopyUid {
  uidValidity: number;
  /** source UID -> destination UID */
  map: Map<number, number>;
}

/** COPYUID uidvalidity source-set destination-set (RFC 4315). */
export function parseCopyUid(code: string[] | undefined, limit: number): CopyUid | undefined {
  if (code?.[0] !== 'COPYUID' || code.length < 4) return undefined;
  const source = expandUidSet(code[2] as string, limit);
  const destination = expandUidSet(code[3] as string, limit);
  if (source.length !== destination.length) return undefined;
  return { uidValidity: Number(code[1]), map: new Map(source.map((uid, i) => [uid, destination[i] as number])) };
}

/** The human-readable text of a status response (what follows its response code). */
export function responseText(attributes: Token[] | undefined): string {
  return (attributes ?? [])
    .filter((token): token is OtherToken => token !== null && !Array.isArray(token) && token.type === 'TEXT')
    .map((token) => token.value)
    .join(' ');
}
