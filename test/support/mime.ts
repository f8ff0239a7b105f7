// MIME building blocks for the corpus generator. Text is built with "\n" line
// ends and turned into CRLF by toBytes(); base64 bodies are Buffers that already
// carry CRLF.
import { Rng } from './prng.js';

export type Out = (string | Buffer)[];
export interface Part { h: string; b: Out } // content headers ("\n"-terminated lines) and body

/** Concatenates the pieces; strings are UTF-8 with "\n" turned into CRLF unless crlf is false. */
export function toBytes(out: Out, crlf = true): Buffer {
  return Buffer.concat(out.map((p) => (typeof p === 'string' ? Buffer.from(crlf ? p.replace(/\n/g, '\r\n') : p) : p)));
}

/** RFC 2047 encoded words (B for UTF-8, Q for ISO-8859-1), each <= 75 chars; ASCII is returned as is. */
export function encWords(text: string, charset: 'UTF-8' | 'ISO-8859-1' = 'UTF-8'): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a byte range: is the text all ASCII
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  const q = charset === 'ISO-8859-1';
  const enc = (s: string) => Buffer.from(s, q ? 'latin1' : 'utf8');
  const limit = q ? 40 : 45;
  const words: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (enc(cur + ch).length > limit) { words.push(cur); cur = ''; }
    cur += ch;
  }
  if (cur) words.push(cur);
  return words.map((w) => {
    const b = enc(w);
    if (!q) return `=?UTF-8?B?${b.toString('base64')}?=`;
    let s = '';
    for (const c of b) s += /[0-9A-Za-z]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : c === 32 ? '_' : '=' + hex2(c);
    return `=?ISO-8859-1?Q?${s}?=`;
  }).join(' ');
}

/** A header folded at spaces so lines stay <= width where possible. */
export function fold(name: string, value: string, width = 78): string {
  const out: string[] = [];
  let line = `${name}: `;
  value.split(' ').forEach((tok, i) => {
    const piece = i === 0 ? tok : ' ' + tok;
    if (line.length + piece.length > width && line.trim() && !line.endsWith(': ')) {
      out.push(line);
      line = ' ' + tok;
    } else {
      line += piece;
    }
  });
  out.push(line);
  return out.join('\n') + '\n';
}

/** Quoted-printable (RFC 2045) of text in the given charset; "\n" stays the line end. */
export function qp(text: string, charset: 'utf8' | 'latin1' = 'utf8'): string {
  return text.split('\n').map((line) => {
    const bytes = Buffer.from(line, charset);
    const toks: string[] = [];
    bytes.forEach((c, i) => {
      const last = i === bytes.length - 1;
      const plain = (c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !last);
      toks.push(plain ? String.fromCharCode(c) : '=' + hex2(c));
    });
    const lines: string[] = [];
    let cur = '';
    for (const t of toks) {
      if (cur.length + t.length > 75) { lines.push(cur + '='); cur = ''; }
      cur += t;
    }
    return [...lines, cur].join('\n');
  }).join('\n');
}

function hex2(c: number): string {
  return c.toString(16).toUpperCase().padStart(2, '0');
}

/** Base64 of small data, 76-char CRLF lines. */
export function b64(data: Buffer): Buffer {
  const s = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 76) lines.push(s.slice(i, i + 76) + '\r\n');
  return Buffer.from(lines.join(''), 'latin1');
}

const LINE_BYTES = 57; // one 76-char base64 line
const LINE_LEN = 78; // with CRLF
const FRESH_EVERY = 64; // a fresh random line, then up to 63 lines from the pool
const CHUNK_LINES = 210 * FRESH_EVERY; // ~1 MiB per yielded chunk

let pool: { buf: Buffer; lines: number } | undefined;

// 1 MiB of random data, base64-encoded once; bulk base64 is copied from it in runs.
function b64Pool(): { buf: Buffer; lines: number } {
  if (!pool) {
    const lines = Math.floor((1 << 20) / LINE_BYTES);
    pool = { buf: b64(new Rng('imapcp-corpus-pool').bytes(lines * LINE_BYTES)), lines };
  }
  return pool;
}

/** Length of base64Lines() output for n data bytes. */
export function base64Size(n: number): number {
  const rest = n % LINE_BYTES;
  return Math.floor(n / LINE_BYTES) * LINE_LEN + (rest ? Math.ceil(rest / 3) * 4 + 2 : 0);
}

/**
 * Base64 (CRLF lines) of n pseudo-random bytes starting with magic, in ~1 MiB chunks:
 * runs of a precomputed random block, each run after a fresh line, so no per-byte work.
 */
export function* base64Lines(rng: Rng, n: number, magic: Buffer = Buffer.alloc(0)): Generator<Buffer> {
  const { buf, lines: poolLines } = b64Pool();
  const full = Math.floor(n / LINE_BYTES);
  const first = () => Buffer.concat([magic, rng.bytes(LINE_BYTES)]).subarray(0, LINE_BYTES);
  for (let line = 0; line < full;) {
    const count = Math.min(CHUNK_LINES, full - line);
    const out = Buffer.allocUnsafe(count * LINE_LEN);
    for (let i = 0; i < count;) {
      const fresh = line + i === 0 ? first() : rng.bytes(LINE_BYTES);
      out.write(fresh.toString('base64') + '\r\n', i * LINE_LEN, 'latin1');
      i++;
      const run = Math.min(FRESH_EVERY - 1, count - i);
      const from = rng.int(0, poolLines - run);
      buf.copy(out, i * LINE_LEN, from * LINE_LEN, (from + run) * LINE_LEN);
      i += run;
    }
    line += count;
    yield out;
  }
  const rest = n % LINE_BYTES;
  if (rest) {
    const tail = full === 0 ? first() : rng.bytes(LINE_BYTES);
    yield Buffer.from(tail.subarray(0, rest).toString('base64') + '\r\n', 'latin1');
  }
}

export function boundary(rng: Rng, odd = false): string {
  // bchars (RFC 2046) allow ' ( ) + , - . / : = ? and space; the odd one uses most of them
  return odd ? `=_?:. odd'(b)+,=${rng.hex(12)}` : `----=_Part_${rng.hex(24).toUpperCase()}`;
}

export function multipart(
  rng: Rng,
  ctype: string,
  parts: Part[],
  o: { preamble?: string; epilogue?: string; oddBoundary?: boolean; params?: string } = {},
): Part {
  const bnd = boundary(rng, o.oddBoundary);
  const b: Out = [];
  if (o.preamble !== undefined) b.push(o.preamble);
  for (const p of parts) {
    b.push(`--${bnd}\n${p.h}\n`, ...p.b);
    if (!endsWithNewline(p.b)) b.push('\n');
  }
  b.push(`--${bnd}--\n`);
  if (o.epilogue !== undefined) b.push(o.epilogue);
  return { h: `Content-Type: ${ctype};${o.params ?? ''}\n boundary="${bnd}"\n`, b };
}

function endsWithNewline(out: Out): boolean {
  const last = out[out.length - 1];
  if (last === undefined) return false;
  return typeof last === 'string' ? last.endsWith('\n') : last[last.length - 1] === 0x0a;
}
