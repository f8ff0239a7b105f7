import { ProxyError } from '../model/errors.js';
import type { MessageMeta, Uid } from '../model/types.js';
import { parseUidRanges, uidsInRanges } from '../model/uid-set.js';
import { tokenString, type Token } from '../upstream/imap-tokens.js';
import { decodeEncodedWords } from './sort/encoded-words.js';

/**
 * SEARCH over the cache while upstream is unreachable: flags, sizes, dates, UIDs and header
 * fields of cached header blocks, combined with NOT, OR and groups. Header fields are matched on
 * their raw bytes with RFC 2047 encoded words decoded (as upstream matches them), case-insensitively.
 * BODY and TEXT as far as a raw search can tell them (text-search.ts); where it cannot, the
 * search needs upstream.
 */
export interface SearchableMessage {
  meta: MessageMeta;
  /** The raw header block, loaded on demand. */
  header(): Promise<string | undefined>;
  /** Whether the body (BODY) or the message (TEXT) contains the string; undefined where the cache cannot tell. */
  contains(key: 'BODY' | 'TEXT', needle: string): Promise<boolean | undefined>;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** "1-Feb-1994" (or any d-Mon-yyyy / d Mon yyyy prefix) as yyyymmdd, disregarding time and zone. */
function dayOf(text: string): number | undefined {
  const match = /(\d{1,2})[-\s]([A-Za-z]{3})[-\s](\d{4})/.exec(text);
  const month = match ? MONTHS.indexOf((match[2] as string).toLowerCase()) : -1;
  return match && month >= 0 ? Number(match[3]) * 10000 + (month + 1) * 100 + Number(match[1]) : undefined;
}

const unavailable = (what: string) => {
  const text = `The mail server is not reachable, and the cache cannot search ${what}`;
  return new ProxyError('UPSTREAM_UNAVAILABLE', text, { clientText: text });
};

/** Finds the value of a header field in a raw header block (with its folded lines unfolded). */
export function headerValues(header: string, name: string): string[] {
  const values: string[] = [];
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[ \\t]*:(.*(?:\\r?\\n[ \\t].*)*)`, 'gim');
  for (const match of header.matchAll(pattern)) values.push((match[1] as string).replace(/\r?\n[ \t]/g, ' '));
  return values;
}

async function headerContains(message: SearchableMessage, field: string, needle: string): Promise<boolean> {
  const header = await message.header();
  if (header === undefined) throw unavailable('a header that is not cached');
  const values = headerValues(header, field).map(decodeEncodedWords);
  return needle === '' ? values.length > 0 : values.some((v) => v.toLowerCase().includes(needle.toLowerCase()));
}

class LocalSearch {
  private pos = 0;

  constructor(private readonly query: readonly Token[]) {}

  /** With `needed` false the keys are only read past: a message already out is not searched (nor refused) for its text. */
  async matches(message: SearchableMessage, needed = true): Promise<boolean> {
    this.pos = 0;
    let all = needed;
    while (this.pos < this.query.length) {
      if (!(await this.key(this.query, message, all))) all = false;
    }
    return all;
  }

  /** Evaluates the key at the cursor of `tokens` (advancing it past its arguments); a key not `needed` may answer anything. */
  private async key(tokens: readonly Token[], message: SearchableMessage, needed: boolean): Promise<boolean> {
    const token = tokens[this.pos++];
    if (Array.isArray(token)) return new LocalSearch(token).matches(message, needed);
    const key = (tokenString(token) ?? '').toUpperCase();
    const arg = () => tokenString(tokens[this.pos++]) ?? '';
    const { meta } = message;
    const flag = (name: string) => meta.flags.some((f) => f.toLowerCase() === name.toLowerCase());
    const internal = dayOf(meta.internalDate) ?? 0;
    const sent = async () => dayOf((headerValues((await message.header()) ?? '', 'date')[0] ?? '')) ?? 0;
    switch (key) {
      case 'ALL': return true;
      case 'CHARSET': arg(); return true;
      case 'ANSWERED': return flag('\\Answered');
      case 'DELETED': return flag('\\Deleted');
      case 'DRAFT': return flag('\\Draft');
      case 'FLAGGED': return flag('\\Flagged');
      case 'SEEN': return flag('\\Seen');
      case 'UNANSWERED': return !flag('\\Answered');
      case 'UNDELETED': return !flag('\\Deleted');
      case 'UNDRAFT': return !flag('\\Draft');
      case 'UNFLAGGED': return !flag('\\Flagged');
      case 'UNSEEN': return !flag('\\Seen');
      // \Recent belongs to upstream sessions; the proxy shows none
      case 'RECENT': case 'NEW': return false;
      case 'OLD': return true;
      case 'KEYWORD': return flag(arg());
      case 'UNKEYWORD': return !flag(arg());
      case 'LARGER': return meta.size > Number(arg());
      case 'SMALLER': return meta.size < Number(arg());
      case 'BEFORE': return internal < (dayOf(arg()) ?? 0);
      case 'ON': return internal === dayOf(arg());
      case 'SINCE': return internal >= (dayOf(arg()) ?? Infinity);
      case 'SENTBEFORE': { const day = dayOf(arg()) ?? 0; return (await sent()) < day; }
      case 'SENTON': { const day = dayOf(arg()); return (await sent()) === day; }
      case 'SENTSINCE': { const day = dayOf(arg()) ?? Infinity; return (await sent()) >= day; }
      case 'OLDER': return Date.now() - Date.parse(meta.internalDate) > Number(arg()) * 1000;
      case 'YOUNGER': return Date.now() - Date.parse(meta.internalDate) <= Number(arg()) * 1000;
      case 'FROM': case 'TO': case 'CC': case 'BCC': case 'SUBJECT': return headerContains(message, key, arg());
      case 'HEADER': { const field = arg(); return headerContains(message, field, arg()); }
      case 'UID': return uidsInRanges([meta.uid], parseUidRanges(arg().replace(/\*/g, String(2 ** 32 - 1)))).length > 0;
      case 'MODSEQ': {
        // MODSEQ [entry-name entry-type] value
        const first = arg();
        const value = /^\d+$/.test(first) ? first : (arg(), arg());
        return BigInt(meta.modseq) >= BigInt(value);
      }
      case 'NOT': return !(await this.key(tokens, message, needed));
      case 'OR': {
        const left = await this.key(tokens, message, needed);
        const right = await this.key(tokens, message, needed && !left);
        return left || right;
      }
      case 'BODY': case 'TEXT': {
        const needle = arg();
        if (!needed) return false;
        const found = await message.contains(key, needle);
        if (found === undefined) throw unavailable(`${key} in a message whose body is not cached or has base64 or quoted-printable parts`);
        return found;
      }
      default: throw new ProxyError('UPSTREAM_BAD', `unknown search key ${key}`, { clientText: `Invalid search: unknown key ${key}` });
    }
  }
}

/** The UIDs among `candidates` that match. */
export async function searchLocally(query: readonly Token[], candidates: readonly SearchableMessage[]): Promise<Uid[]> {
  const search = new LocalSearch(query);
  const found: Uid[] = [];
  for (const message of candidates) if (await search.matches(message)) found.push(message.meta.uid);
  return found;
}
