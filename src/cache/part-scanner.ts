import type { StructureNode } from './body-structure.js';

/** Where one body of the structure is in the raw message: its header from start, its content from bodyStart to end. */
export interface PartSpan {
  start: number;
  bodyStart: number;
  end: number;
}

export type ScanResult = { spans: PartSpan[] } | { mismatch: string };

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

interface Frame {
  node: number;
  start: number;
  /** -1 while the entity's header is being read. */
  bodyStart: number;
  /** A multipart's boundary, once its body began. */
  boundary?: Buffer;
  /** Multipart: the node of the next child a boundary line opens, -1 when the structure has no more. */
  nextChild: number;
  /** Multipart: its close delimiter was seen (the epilogue follows). */
  closed: boolean;
}

/**
 * Finds where each body that upstream's BODYSTRUCTURE names starts and ends in the raw message,
 * fed its bytes in pieces: one pass, line by line, looking only at line starts for the
 * boundaries the structure names and, in each header, for the empty line that ends it. Memory is
 * one line start's worth of bytes, whatever the message size. Nothing is decoded.
 *
 * The rules are RFC 2046's as Dovecot applies them: a line that starts with "--" and a boundary
 * of an enclosing multipart is a boundary line (the longest such boundary wins, the innermost
 * on a tie), the line break before it belongs to it, a close delimiter ends with "--", and an
 * outer boundary also ends the multiparts inside it. Then every size is checked against
 * upstream's: where one differs, upstream parsed the message differently and the scan says so.
 */
export class PartScanner {
  private readonly frames: Frame[] = [];
  private readonly spans: (PartSpan | undefined)[];
  /** The first bytes of the current line (as many as a boundary test needs). */
  private readonly head: Buffer;
  private headLength = 0;
  private lineStart = 0;
  private lineLength = 0;
  /** Line break length of the line before the current one (0 at the start, and after a boundary line). */
  private previousBreak = 0;
  private lastByte = -1;
  private mismatch: string | undefined;

  constructor(private readonly nodes: readonly StructureNode[]) {
    this.spans = nodes.map(() => undefined);
    const longest = Math.max(0, ...nodes.map((n) => n.boundary?.length ?? 0));
    this.head = Buffer.alloc(longest + 4);
    this.frames.push({ node: 0, start: 0, bodyStart: -1, nextChild: -1, closed: false });
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.mismatch === undefined) {
      const lf = chunk.indexOf(LF, pos);
      const stop = lf < 0 ? chunk.length : lf + 1;
      if (this.headLength < this.head.length) {
        this.headLength += chunk.copy(this.head, this.headLength, pos, Math.min(stop, pos + this.head.length - this.headLength));
      }
      this.lineLength += stop - pos;
      if (lf < 0) {
        this.lastByte = chunk[chunk.length - 1] as number;
        return;
      }
      const beforeLf = lf > pos ? chunk[lf - 1] : this.lastByte;
      const lineBreak = this.lineLength > 1 && beforeLf === CR ? 2 : 1;
      this.line(this.lineLength - lineBreak, lineBreak);
      pos = stop;
      this.lastByte = LF;
    }
  }

  /** The message ended at `total` bytes: every open body ends there. */
  finish(total: number): ScanResult {
    if (this.mismatch === undefined && this.lineLength > 0) this.line(this.lineLength, 0);
    if (this.mismatch === undefined) this.endFrames(0, total, 0);
    if (this.mismatch !== undefined) return { mismatch: this.mismatch };
    const spans: PartSpan[] = [];
    for (const [i, span] of this.spans.entries()) {
      if (!span) return { mismatch: `part ${i} of the structure not found` };
      const size = this.nodes[i]?.size;
      if (size !== undefined && span.end - span.bodyStart !== size) {
        return { mismatch: `part ${i}: ${span.end - span.bodyStart} bytes where upstream counts ${size}` };
      }
      spans.push(span);
    }
    return { spans };
  }

  /** A structure of one body whose header's end is known (found as the body was stored): nothing else to look for. */
  finishAt(headerLength: number, total: number): ScanResult {
    const top = this.frames[0];
    if (this.nodes.length !== 1 || !top || this.lineStart > 0) throw new Error('finishAt is for a structure of one body, before any bytes');
    top.bodyStart = headerLength;
    return this.finish(total);
  }

  private line(contentLength: number, lineBreak: number): void {
    const start = this.lineStart;
    const next = start + contentLength + lineBreak;
    this.lineStart = next;
    this.lineLength = 0;
    const headLength = Math.min(this.headLength, contentLength);
    this.headLength = 0;
    // the line break before a boundary line belongs to it, unless it ends a boundary line itself
    const previousBreak = this.previousBreak;
    this.previousBreak = lineBreak;
    if (headLength >= 2 && this.head[0] === DASH && this.head[1] === DASH) {
      const found = this.boundaryFrame(headLength);
      if (found >= 0) {
        this.previousBreak = 0;
        return this.boundaryLine(found, headLength, start, previousBreak, next);
      }
    }
    const top = this.frames[this.frames.length - 1] as Frame;
    if (top.bodyStart < 0 && contentLength === 0) this.enterBody(top, next);
  }

  /** The open multipart whose boundary the current line starts with (longest; innermost on a tie), or -1. */
  private boundaryFrame(headLength: number): number {
    let best = -1;
    let bestLength = -1;
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const frame = this.frames[i] as Frame;
      const boundary = frame.boundary;
      if (!boundary || frame.closed || boundary.length <= bestLength || boundary.length > headLength - 2) continue;
      if (this.head.compare(boundary, 0, boundary.length, 2, 2 + boundary.length) === 0) {
        best = i;
        bestLength = boundary.length;
      }
    }
    return best;
  }

  private boundaryLine(index: number, headLength: number, lineStart: number, lineBreak: number, next: number): void {
    this.endFrames(index + 1, lineStart, lineBreak);
    const frame = this.frames[index] as Frame;
    const length = (frame.boundary as Buffer).length;
    const closing = headLength >= length + 4 && this.head[length + 2] === DASH && this.head[length + 3] === DASH;
    if (closing) {
      frame.closed = true;
      return;
    }
    const child = frame.nextChild;
    if (child < 0) {
      this.mismatch = 'more parts than upstream names';
      return;
    }
    const end = (this.nodes[frame.node] as StructureNode).next;
    const after = (this.nodes[child] as StructureNode).next;
    frame.nextChild = after < end ? after : -1;
    this.frames.push({ node: child, start: next, bodyStart: -1, nextChild: -1, closed: false });
  }

  private enterBody(frame: Frame, bodyStart: number): void {
    frame.bodyStart = bodyStart;
    const node = this.nodes[frame.node] as StructureNode;
    if (node.kind === 'message') this.frames.push({ node: frame.node + 1, start: bodyStart, bodyStart: -1, nextChild: -1, closed: false });
    if (node.kind !== 'multipart') return;
    if (node.boundary) frame.boundary = node.boundary;
    if (node.next > frame.node + 1) frame.nextChild = frame.node + 1;
  }

  /**
   * Ends the frames from `from` up at a boundary line starting at `lineStart` (or at the end of
   * the message), never before a body's start. The line break before a boundary line is the
   * boundary's (RFC 2046): cut from every body that ends there. Where that line break is the
   * empty line ending the innermost part's header (the boundary follows at once), Dovecot cuts
   * it from that part's header alone and leaves it in the bodies around it.
   */
  private endFrames(from: number, lineStart: number, lineBreak: number): void {
    const headerThenBoundary = this.frames[this.frames.length - 1]?.bodyStart === lineStart;
    for (let innermost = true; this.frames.length > from; innermost = false) {
      const frame = this.frames.pop() as Frame;
      const cut = innermost || !headerThenBoundary ? lineBreak : 0;
      const end = lineStart - cut;
      // a body ended by a boundary right after its header's empty line is empty, and that line
      // break is the boundary's: the header ends before it (as Dovecot counts it)
      const bodyStart = Math.max(frame.start, frame.bodyStart < 0 ? end : Math.min(frame.bodyStart, end));
      this.spans[frame.node] = { start: frame.start, bodyStart, end: Math.max(bodyStart, end) };
    }
  }
}
