/**
 * Valid RFC 3501 syntax that imap-core's parser refuses, rewritten into an equivalent form it
 * takes (core-patches.ts runs every command line through this before imap-core parses it):
 * - sequence sets with `*` as an item of a list or as the start of a range (`1,*`, `*,1`,
 *   `*:3`): `*` alone becomes `*:*`, `*:n` becomes `n:*` (a range means the same either way);
 * - LIST and LSUB patterns with a wildcard inside an atom (`INBOX/%`, `a%b`, `Inbox*`), also in a
 *   list of patterns (`(a/* b%)`): quoted;
 * - NIL as a SEARCH string (`SUBJECT NIL`) or a STORE keyword: quoted (imap-core's SEARCH throws
 *   on NIL, its STORE drops it);
 * - the range of SEARCH RETURN (PARTIAL 1:10) (RFC 5267): quoted;
 * - the UID and sequence sets of SELECT / EXAMINE's QRESYNC parameters (RFC 7162): quoted.
 * Quoted strings and literals are left as they are.
 */
export function normalizeCommand(line: string): string {
  // most lines have nothing of the above (one test, no split into words)
  if (!MAY_NEED_REWRITE.test(line)) return line;
  const [, name = '', subcommand = ''] = /^\S+ (\S+)(?: (\S+))?/.exec(line) ?? [];
  const command = name.toUpperCase();
  const verb = command === 'UID' ? subcommand.toUpperCase() : command;
  // NIL is a string there (a search key's astring, a keyword of STORE); imap-core makes it null
  const nilIsString = verb === 'SEARCH' || verb === 'STORE';
  const patterns = PATTERN_COMMANDS.has(command);
  // a pattern is a list-mailbox: `[`, `]` and `}` are characters of it, not delimiters
  const words = splitWords(line, patterns ? ' \r\n' : ' ()[]\r\n');
  const sets = SET_COMMANDS.has(command);
  let out = '';
  let at = 0;
  for (const [index, word] of words.entries()) {
    if (word.quoted || index < 2) continue;
    const previous = words[index - 1]?.text.toUpperCase();
    const replacement =
      patterns && /[%*]/.test(word.text)
        ? quotePattern(word.text)
        : // RETURN (PARTIAL 1:100): its parser takes no range before `)`
          verb === 'SEARCH' && previous === 'PARTIAL'
          ? quote(word.text)
          : (verb === 'SELECT' || verb === 'EXAMINE') && /[:,]/.test(word.text) && SEQUENCE_SET.test(word.text)
          ? quote(word.text)
          : sets && SEQUENCE_SET.test(word.text)
          ? sequenceSet(word.text)
          : nilIsString && word.text.toUpperCase() === 'NIL'
            ? quote(word.text)
            : undefined;
    if (replacement === undefined || replacement === word.text) continue;
    out += line.slice(at, word.start) + replacement;
    at = word.start + word.text.length;
  }
  return at === 0 ? line : out + line.slice(at);
}

/** What every rewrite above needs in the line: a wildcard, NIL, PARTIAL, or a SELECT / EXAMINE with parameters. */
const MAY_NEED_REWRITE = /[*%]|NIL|PARTIAL|^\S+ (?:SELECT|EXAMINE) .*\(/i;
const PATTERN_COMMANDS = new Set(['LIST', 'LSUB', 'XLIST']);
/** Commands with a sequence set among their arguments (UID's subcommand follows it). */
const SET_COMMANDS = new Set(['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'UID']);
const SEQUENCE_SET = /^(?:\d+|\*)(?::(?:\d+|\*))?(?:,(?:\d+|\*)(?::(?:\d+|\*))?)*$/;

/** `*` items as `*:*`, ranges that start with `*` turned around. */
function sequenceSet(set: string): string {
  if (set === '*') return set; // a lone `*` imap-core takes as it is
  return set
    .split(',')
    .map((item) => (item === '*' ? '*:*' : item.startsWith('*:') ? `${item.slice(2)}:*` : item))
    .join(',');
}

/** A pattern quoted; the parentheses of a list of patterns (LIST-EXTENDED) around it stay outside. */
function quotePattern(word: string): string {
  const [, open = '', pattern = '', close = ''] = /^(\(*)(.*?)(\)*)$/.exec(word) ?? [];
  return `${open}${quote(pattern)}${close}`;
}

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

interface Word {
  text: string;
  start: number;
  /** A quoted string or a literal: never rewritten. */
  quoted: boolean;
}

/**
 * The words of a command line between `delimiters`, quoted strings and literal announcements
 * (`{n}`) kept whole.
 */
function splitWords(line: string, delimiters: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (delimiters.includes(c)) {
      i++;
    } else if (c === '"') {
      const start = i++;
      while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
      words.push({ text: line.slice(start, ++i), start, quoted: true });
    } else if (c === '{') {
      // a literal's announcement (imap-core hands the literal's bytes to its parser apart)
      const start = i;
      while (i < line.length && line[i] !== '}') i++;
      words.push({ text: line.slice(start, ++i), start, quoted: true });
    } else {
      const start = i;
      while (i < line.length && line[i] !== '"' && !delimiters.includes(line[i] as string)) i++;
      words.push({ text: line.slice(start, i), start, quoted: false });
    }
  }
  return words;
}

interface ParsedToken {
  type?: string;
  value?: unknown;
  section?: ParsedToken[];
}
type ParsedArgument = ParsedToken | ParsedArgument[] | null;

const BINARY_SIZE = /^BINARY\.SIZE\[((?:\d+\.)*\d+)?\]$/i;

/**
 * imap-core's parser takes a section only after BODY, BODY.PEEK, BINARY and BINARY.PEEK:
 * `BINARY.SIZE[1]` (RFC 3516) comes out of it as one atom. Made the item with a section that
 * the others are (core-patches.ts runs every parsed command through this).
 */
export function liftBinarySize<T extends { attributes?: ParsedArgument[] }>(parsed: T): T {
  const lift = (arg: ParsedArgument): ParsedArgument => {
    if (Array.isArray(arg)) return arg.map(lift);
    const match = arg?.type === 'ATOM' && typeof arg.value === 'string' ? BINARY_SIZE.exec(arg.value) : null;
    if (!match) return arg;
    return { type: 'ATOM', value: 'BINARY.SIZE', section: match[1] ? [{ type: 'ATOM', value: match[1] }] : [] };
  };
  if (parsed?.attributes) parsed.attributes = parsed.attributes.map(lift);
  return parsed;
}
