/**
 * imapflow's parsed response tokens, and their serialisation back to IMAP bytes. ENVELOPE and
 * BODYSTRUCTURE are stored as the bytes this produces: literals stay literals (their Buffer is
 * kept as received), quoted strings are re-quoted, so what a client gets is what upstream sent.
 */
export interface AtomToken {
  type: 'ATOM';
  value: string;
  section?: Token[];
  partial?: (string | number)[];
}
export interface StringToken {
  type: 'STRING';
  value: string;
}
export interface LiteralToken {
  type: 'LITERAL';
  value: Buffer | string;
}
export interface OtherToken {
  type: 'SEQUENCE' | 'TEXT' | 'SECTION';
  value: string;
}
export type Token = AtomToken | StringToken | LiteralToken | OtherToken | Token[] | null;

export const atom = (value: string): AtomToken => ({ type: 'ATOM', value });

/**
 * BINARY[part] (RFC 3516) as a section name of its own, for the cache and for upstream: the
 * decoded content, never cut from a cached body (that would need decoding).
 */
const BINARY_PREFIX = 'BINARY ';
export const binarySection = (part: string): string => `${BINARY_PREFIX}${part}`;

/** The FETCH item that asks upstream for a section: BINARY.PEEK[part] for a binarySection, else BODY.PEEK[section]. */
export function sectionFetchItem(section: string): { name: 'BINARY.PEEK' | 'BODY.PEEK'; section: string } {
  return section.startsWith(BINARY_PREFIX) ? { name: 'BINARY.PEEK', section: section.slice(BINARY_PREFIX.length) } : { name: 'BODY.PEEK', section };
}
export const sequence = (value: string): OtherToken => ({ type: 'SEQUENCE', value });

/** Whether a token list holds an atom of this name (case-insensitive), at any depth. */
export function hasAtom(tokens: readonly Token[], name: string): boolean {
  return tokens.some((token) => (Array.isArray(token) ? hasAtom(token, name) : token !== null && token.type === 'ATOM' && token.value.toUpperCase() === name));
}

/** Bytes of a string or literal token (imapflow decodes quoted strings as UTF-8). */
export function tokenBytes(token: Token): Buffer | null {
  if (token === null || Array.isArray(token)) return null;
  if (token.type === 'LITERAL') return Buffer.isBuffer(token.value) ? token.value : Buffer.from(token.value, 'binary');
  return Buffer.from(token.value, 'utf8');
}

export function tokenString(token: Token | undefined): string | null {
  if (token === null || token === undefined || Array.isArray(token)) return null;
  return typeof token.value === 'string' ? token.value : token.value.toString('utf8');
}

/**
 * Serialises a token tree. Dovecot (and RFC 3501's examples) write no space between lists that
 * directly follow each other at the start of a list: `((a)(b) "mixed")`, `(("n" NIL "m" "h")("x" ...))`.
 */
export function serializeTokens(token: Token): Buffer {
  const parts: Buffer[] = [];
  write(token, parts);
  return Buffer.concat(parts);
}

const QUOTE_NEEDED = /["\\]/g;

function write(token: Token, out: Buffer[]): void {
  if (token === null) {
    out.push(Buffer.from('NIL'));
    return;
  }
  if (Array.isArray(token)) {
    out.push(Buffer.from('('));
    let leadingLists = true;
    token.forEach((item, i) => {
      const isList = Array.isArray(item);
      if (i > 0 && !(leadingLists && isList)) out.push(Buffer.from(' '));
      if (!isList) leadingLists = false;
      write(item, out);
    });
    out.push(Buffer.from(')'));
    return;
  }
  switch (token.type) {
    case 'LITERAL': {
      const bytes = tokenBytes(token) as Buffer;
      out.push(Buffer.from(`{${bytes.length}}\r\n`), bytes);
      return;
    }
    case 'STRING':
      out.push(Buffer.from(`"${token.value.replace(QUOTE_NEEDED, '\\$&')}"`, 'utf8'));
      return;
    default:
      out.push(Buffer.from(token.value, 'utf8'));
  }
}

/**
 * The canonical name of a FETCH response item, e.g. `BODY[HEADER.FIELDS (FROM TO)]<0>`,
 * uppercased, as used to match response items to requested ones.
 */
export function fetchItemName(token: AtomToken): string {
  let name = token.value.toUpperCase();
  if (token.section) {
    const inner = serializeTokens(token.section).toString('utf8');
    name += `[${inner.slice(1, -1).toUpperCase()}]`;
  }
  if (token.partial?.length) name += `<${token.partial[0]}>`;
  return name;
}
