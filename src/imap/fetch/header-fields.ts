const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** A field name longer than this cannot match anything a client asks for; it is not buffered. */
const MAX_NAME = 998;

/**
 * BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] cut from a raw header block:
 * the selected fields, each with its folded continuation lines, in their original order,
 * followed by the header's empty line (as Dovecot answers). Fed the header in pieces; emits slices of
 * them, so a huge header never needs to sit in memory whole. Nothing is decoded.
 */
export class HeaderFieldFilter {
  private atLineStart = true;
  /** A piece ended with a CR at a line start: an empty line if the next byte is LF. */
  private carriageReturn = false;
  private include = false;
  private ended = false;
  /** Start of a field line whose name is not complete yet (it straddles two pieces). */
  private pendingLine: Buffer[] = [];
  private pendingLength = 0;

  /** The lengths of the names asked for: most field lines are told apart by length alone, without making a string. */
  private readonly nameLengths: ReadonlySet<number>;

  constructor(
    private readonly names: ReadonlySet<string>,
    private readonly exclude: boolean,
  ) {
    this.nameLengths = new Set([...names].map((name) => name.length));
  }

  /** The selected fields of a header block held in memory, in one Buffer. */
  static select(block: Buffer, names: ReadonlySet<string>, exclude: boolean): Buffer {
    const filter = new HeaderFieldFilter(names, exclude);
    return Buffer.concat([...filter.push(block), ...filter.end()]);
  }

  push(piece: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < piece.length && !this.ended) {
      if (this.pendingLength > 0) {
        pos = this.completeName(piece, pos, out);
        continue;
      }
      if (this.carriageReturn) {
        this.carriageReturn = false;
        if (piece[pos] === LF) {
          this.ended = true;
          break;
        }
        // a bare CR starting a field line: the start of that line's name
        this.pendingLine = [Buffer.from([CR])];
        this.pendingLength = 1;
        continue;
      }
      if (this.atLineStart) {
        const first = piece[pos] as number;
        if (first === CR && pos + 1 >= piece.length) {
          this.carriageReturn = true;
          break;
        }
        if (first === LF || (first === CR && piece[pos + 1] === LF)) {
          // the empty line ends the header
          this.ended = true;
          break;
        }
        if (first !== SP && first !== HT) {
          pos = this.startField(piece, pos);
          continue;
        }
      }
      pos = this.copyRestOfLine(piece, pos, out);
    }
    return out;
  }

  /**
   * The closing empty line. Dovecot always ends HEADER.FIELDS with one, and HEADER.FIELDS.NOT only
   * when the header block had one (a message that is all header has none).
   */
  end(): Buffer[] {
    const out: Buffer[] = [];
    if (this.carriageReturn) {
      this.pendingLine = [Buffer.from([CR])];
      this.pendingLength = 1;
    }
    if (this.pendingLength > 0 && !this.ended) {
      // a last line without a colon or a line end: the whole line is its name
      const line = Buffer.concat(this.pendingLine);
      if (this.matches(line)) out.push(line);
      this.pendingLine = [];
      this.pendingLength = 0;
    }
    if (this.ended || !this.exclude) out.push(Buffer.from('\r\n'));
    return out;
  }

  private startField(piece: Buffer, pos: number): number {
    const colon = indexOfNameEnd(piece, pos);
    if (colon < 0) {
      this.pendingLine.push(piece.subarray(pos));
      this.pendingLength = piece.length - pos;
      return piece.length;
    }
    this.include = this.matches(piece.subarray(pos, colon));
    this.atLineStart = false;
    return pos;
  }

  private completeName(piece: Buffer, pos: number, out: Buffer[]): number {
    const colon = indexOfNameEnd(piece, pos);
    if (colon < 0 && this.pendingLength + piece.length - pos <= MAX_NAME) {
      this.pendingLine.push(piece.subarray(pos));
      this.pendingLength += piece.length - pos;
      return piece.length;
    }
    const nameEnd = colon < 0 ? pos : colon;
    this.include = this.matches(Buffer.concat([...this.pendingLine, piece.subarray(pos, nameEnd)]));
    this.atLineStart = false;
    if (this.include) out.push(...this.pendingLine);
    this.pendingLine = [];
    this.pendingLength = 0;
    return pos;
  }

  private copyRestOfLine(piece: Buffer, pos: number, out: Buffer[]): number {
    const lf = piece.indexOf(LF, pos);
    const end = lf < 0 ? piece.length : lf + 1;
    if (this.include) {
      // the line right after the last one sent, in the same piece: one slice for both
      const last = out[out.length - 1];
      if (last && last.buffer === piece.buffer && last.byteOffset >= piece.byteOffset && last.byteOffset + last.length === piece.byteOffset + pos) out[out.length - 1] = piece.subarray(last.byteOffset - piece.byteOffset, end);
      else out.push(piece.subarray(pos, end));
    }
    this.atLineStart = lf >= 0;
    return end;
  }

  /** Whether a field is selected; a line without a colon is a field whose name is the whole line. */
  private matches(rawName: Buffer): boolean {
    let length = rawName.length;
    while (length > 0 && (rawName[length - 1] === SP || rawName[length - 1] === HT || rawName[length - 1] === CR)) length--;
    if (!this.nameLengths.has(length)) return this.exclude;
    const name = rawName.toString('latin1', 0, length).toUpperCase();
    return this.names.has(name) !== this.exclude;
  }
}

/** Position of the colon ending a field name, or of the line end when there is no colon; -1 if neither is in this piece. */
function indexOfNameEnd(piece: Buffer, from: number): number {
  for (let i = from; i < piece.length && i - from <= MAX_NAME; i++) {
    const byte = piece[i];
    if (byte === COLON) return i;
    if (byte === LF) return i;
  }
  return piece.length - from > MAX_NAME ? from + MAX_NAME : -1;
}
