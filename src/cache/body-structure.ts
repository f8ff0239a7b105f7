/**
 * Reads upstream's BODYSTRUCTURE, as stored (imap-tokens' serialisation of upstream's answer),
 * into the facts the part index needs: which body is a multipart and its boundary, which is an
 * encapsulated message, and the sizes upstream counted. Nothing here looks at message bytes:
 * the structure is upstream's.
 */

export interface StructureNode {
  /** A multipart, a message/rfc822 (whose encapsulated message is the next node), or a leaf. */
  kind: 'multipart' | 'message' | 'leaf';
  /** Lower-case media type and subtype. */
  type: string;
  subtype: string;
  /** Multipart: the boundary, as bytes. */
  boundary?: Buffer;
  /** Leaf and message: the body's size in octets as upstream counted it. */
  size?: number;
  /** Lower-case Content-Transfer-Encoding of a leaf or message. */
  encoding?: string;
  /** Index just past this node's subtree in the pre-order list. */
  next: number;
}

type Value = string | null | Value[];

const LIST_OPEN = 0x28;
const LIST_CLOSE = 0x29;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LITERAL_OPEN = 0x7b;
const SPACE = 0x20;

/** The structure's bodies in pre-order (a multipart before its children, a message before its encapsulated body). */
export function structureNodes(raw: Buffer): StructureNode[] {
  const reader = new ValueReader(raw);
  const top = reader.value();
  const nodes: StructureNode[] = [];
  addBody(top, nodes, 0);
  return nodes;
}

const MAX_DEPTH = 100;

function addBody(body: Value, nodes: StructureNode[], depth: number): void {
  if (!Array.isArray(body) || depth > MAX_DEPTH) throw new Error('BODYSTRUCTURE: a body is not a list');
  if (Array.isArray(body[0])) {
    const node: StructureNode = { kind: 'multipart', type: 'multipart', subtype: '', next: 0 };
    nodes.push(node);
    let i = 0;
    for (; i < body.length && Array.isArray(body[i]); i++) addBody(body[i] as Value, nodes, depth + 1);
    node.subtype = lower(body[i]);
    const boundary = param(body[i + 1], 'boundary');
    if (boundary !== undefined) node.boundary = Buffer.from(boundary, 'latin1');
    node.next = nodes.length;
    return;
  }
  const type = lower(body[0]);
  const subtype = lower(body[1]);
  const sizeField = body[6];
  const size = typeof sizeField === 'string' && /^\d+$/.test(sizeField) ? Number(sizeField) : Number.NaN;
  if (!Number.isSafeInteger(size)) throw new Error('BODYSTRUCTURE: a part without a size');
  const encapsulated = type === 'message' && Array.isArray(body[7]) && Array.isArray(body[8]);
  const node: StructureNode = { kind: encapsulated ? 'message' : 'leaf', type, subtype, size, encoding: lower(body[5]), next: 0 };
  nodes.push(node);
  if (encapsulated) addBody(body[8] as Value, nodes, depth + 1);
  node.next = nodes.length;
}

function lower(value: Value | undefined): string {
  return typeof value === 'string' ? value.toLowerCase() : '';
}

/** A parameter's value from a body-fld-param list ("name" "value" ...). */
function param(list: Value | undefined, name: string): string | undefined {
  if (!Array.isArray(list)) return undefined;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const key = list[i];
    const value = list[i + 1];
    if (typeof key === 'string' && key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/** IMAP values as the stored structure spells them: lists, NIL, atoms, quoted strings and literals (strings as latin1, byte for byte). */
class ValueReader {
  private pos = 0;

  constructor(private readonly raw: Buffer) {}

  value(): Value {
    this.skipSpaces();
    const byte = this.raw[this.pos];
    if (byte === undefined) throw new Error('BODYSTRUCTURE: cut short');
    if (byte === LIST_OPEN) return this.list();
    if (byte === QUOTE) return this.quoted();
    if (byte === LITERAL_OPEN) return this.literal();
    return this.atom();
  }

  private list(): Value[] {
    this.pos++;
    const items: Value[] = [];
    for (;;) {
      this.skipSpaces();
      if (this.raw[this.pos] === LIST_CLOSE) {
        this.pos++;
        return items;
      }
      items.push(this.value());
    }
  }

  private quoted(): string {
    const bytes: number[] = [];
    for (this.pos++; this.pos < this.raw.length; this.pos++) {
      let byte = this.raw[this.pos] as number;
      if (byte === QUOTE) {
        this.pos++;
        return Buffer.from(bytes).toString('latin1');
      }
      if (byte === BACKSLASH) byte = this.raw[++this.pos] as number;
      bytes.push(byte);
    }
    throw new Error('BODYSTRUCTURE: unterminated string');
  }

  private literal(): string {
    const close = this.raw.indexOf('}\r\n', this.pos);
    const length = Number(this.raw.toString('latin1', this.pos + 1, close));
    if (close < 0 || !Number.isSafeInteger(length)) throw new Error('BODYSTRUCTURE: bad literal');
    const start = close + 3;
    this.pos = start + length;
    if (this.pos > this.raw.length) throw new Error('BODYSTRUCTURE: literal cut short');
    return this.raw.toString('latin1', start, this.pos);
  }

  private atom(): string | null {
    const start = this.pos;
    while (this.pos < this.raw.length) {
      const byte = this.raw[this.pos];
      if (byte === SPACE || byte === LIST_OPEN || byte === LIST_CLOSE) break;
      this.pos++;
    }
    if (this.pos === start) throw new Error('BODYSTRUCTURE: unexpected byte');
    const text = this.raw.toString('latin1', start, this.pos);
    return text.toUpperCase() === 'NIL' ? null : text;
  }

  private skipSpaces(): void {
    while (this.raw[this.pos] === SPACE) this.pos++;
  }
}
