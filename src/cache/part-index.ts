import type { StructureNode } from './body-structure.js';
import type { PartSpan } from './part-scanner.js';

/**
 * Where each MIME part of a cached message is in its raw bytes: what lets BODY[2.1],
 * BODY[1.MIME] or BODY[3.HEADER] be served as a byte range of the cached body. Built from
 * upstream's BODYSTRUCTURE and one scan of the body (part-scanner.ts), kept in the message's
 * structure record: per body of the structure, in pre-order, its kind, where its subtree ends,
 * and its span. A message whose scan disagreed with upstream's sizes keeps an index that says
 * so: its part sections come from upstream.
 */
export interface PartIndex {
  /** False: upstream parsed this message differently from a boundary scan; ask upstream. */
  scanned: boolean;
  nodes: IndexNode[];
}

export interface IndexNode extends PartSpan {
  kind: StructureNode['kind'];
  /** Index just past this node's subtree. */
  next: number;
}

/** A byte range of the cached body; `headerBlock`: a message's header, to pick the fields of HEADER.FIELDS from. */
export interface PartRange {
  start: number;
  end: number;
  headerBlock?: boolean;
}

export const UPSTREAM_PARSED: PartIndex = { scanned: false, nodes: [] };

const EMPTY: PartRange = { start: 0, end: 0 };

export function partIndexOf(nodes: readonly StructureNode[], spans: readonly PartSpan[]): PartIndex {
  return { scanned: true, nodes: nodes.map((node, i) => ({ kind: node.kind, next: node.next, ...(spans[i] as PartSpan) })) };
}

/**
 * The byte range of a part section, `path` its part number ("2.1") and `type` what of it as
 * imap-core names it (content, mime, header, text, header.fields, header.fields.not); undefined
 * where upstream must answer. Part numbers are walked as RFC 3501 6.4.5 and Dovecot do: a
 * multipart's children are 1, 2, ...; a body that is not a multipart is its own part 1, and only
 * a message/rfc822 has parts below that; the parts of an encapsulated message are numbered
 * below its message/rfc822 part. A part that does not exist, and HEADER or TEXT of a part that
 * is not a message, are empty.
 */
export function partRange(index: PartIndex, path: string, type: string): PartRange | undefined {
  const numbers = path.split('.').map(Number);
  const nodes = index.nodes;
  let at = 0;
  for (const [i, num] of numbers.entries()) {
    if (!Number.isSafeInteger(num) || num < 1) return undefined;
    const more = i < numbers.length - 1;
    const node = nodes[at] as IndexNode;
    if (node.kind === 'multipart') {
      let child = at + 1;
      for (let n = 1; n < num && child < node.next; n++) child = (nodes[child] as IndexNode).next;
      if (child >= node.next) return EMPTY;
      at = child;
    } else if (num !== 1 || (more && node.kind !== 'message')) {
      return EMPTY;
    }
    if (more && (nodes[at] as IndexNode).kind === 'message') at++;
  }
  const part = nodes[at] as IndexNode;
  const message = part.kind === 'message' ? (nodes[at + 1] as IndexNode) : undefined;
  switch (type) {
    case 'content':
      return { start: part.bodyStart, end: part.end };
    case 'mime':
      return { start: part.start, end: part.bodyStart };
    case 'header':
    case 'header.fields':
    case 'header.fields.not':
      return message ? { start: message.start, end: message.bodyStart, headerBlock: true } : EMPTY;
    case 'text':
      return message ? { start: message.bodyStart, end: message.end } : EMPTY;
    default:
      return undefined;
  }
}

const FORMAT = 1;
const NODE_SIZE = 17;
const KINDS: readonly IndexNode['kind'][] = ['leaf', 'message', 'multipart'];

export function encodePartIndex(index: PartIndex): Buffer {
  const value = Buffer.alloc(2 + NODE_SIZE * index.nodes.length);
  value.writeUInt8(FORMAT, 0);
  value.writeUInt8(index.scanned ? 1 : 0, 1);
  index.nodes.forEach((node, i) => {
    const at = 2 + i * NODE_SIZE;
    value.writeUInt8(KINDS.indexOf(node.kind), at);
    value.writeUInt32BE(node.next, at + 1);
    value.writeUInt32BE(node.start, at + 5);
    value.writeUInt32BE(node.bodyStart, at + 9);
    value.writeUInt32BE(node.end, at + 13);
  });
  return value;
}

export function decodePartIndex(value: Buffer): PartIndex {
  if (value.length < 2 || value[0] !== FORMAT || (value.length - 2) % NODE_SIZE !== 0) throw new Error('not a part index');
  const nodes: IndexNode[] = [];
  for (let at = 2; at < value.length; at += NODE_SIZE) {
    const kind = KINDS[value.readUInt8(at)];
    if (!kind) throw new Error('not a part index');
    nodes.push({ kind, next: value.readUInt32BE(at + 1), start: value.readUInt32BE(at + 5), bodyStart: value.readUInt32BE(at + 9), end: value.readUInt32BE(at + 13) });
  }
  return { scanned: value[1] === 1, nodes };
}

/** Why a stored index cannot be right for a body of this length, or undefined when it can. */
export function partIndexFault(index: PartIndex, bodyLength: number): string | undefined {
  if (index.scanned && index.nodes.length === 0) return 'the part index is empty';
  for (const [i, node] of index.nodes.entries()) {
    if (!(node.start <= node.bodyStart && node.bodyStart <= node.end && node.end <= bodyLength)) return `part ${i} of the index is outside the body`;
    if (!(node.next > i && node.next <= index.nodes.length)) return `part ${i} of the index has a bad subtree`;
    if (node.kind === 'message' && node.next < i + 2) return `part ${i} of the index has no encapsulated message`;
  }
  return undefined;
}
