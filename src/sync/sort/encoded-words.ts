import { TextDecoder } from 'node:util';
/**
 * RFC 2047 encoded words of a header value decoded to text (a sort key only: header values are
 * small). Whitespace between two adjacent encoded words goes (RFC 2047 6.2); a word in a charset
 * the runtime does not know stays as written.
 */
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=/g;

function decodeWord(charset: string, encoding: string, text: string): string | undefined {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset.toLowerCase());
  } catch {
    return undefined;
  }
  const bytes =
    encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  return decoder.decode(bytes);
}

export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  let out = '';
  let last = 0;
  let previousWasWord = false;
  for (const match of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(last, match.index);
    const decoded = decodeWord(match[1] as string, match[2] as string, match[3] as string);
    // only whitespace between two encoded words is dropped
    if (!(previousWasWord && decoded !== undefined && /^[ \t\r\n]*$/.test(between))) out += between;
    out += decoded ?? match[0];
    previousWasWord = decoded !== undefined;
    last = (match.index ?? 0) + match[0].length;
  }
  return out + value.slice(last);
}
