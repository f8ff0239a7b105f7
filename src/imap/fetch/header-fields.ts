const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** The header's closing empty line (shared: never written to). */
const EMPTY_LINE = Buffer.from('\r\n');

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

  private readonly names: FieldNames;

  constructor(
    names: ReadonlySet<string>,
    private readonly exclude: boolean,
  ) {
    this.names = FieldNames.of(names);
  }

  /**
   * The selected fields of a header block held in memory, in one Buffer: the runs to keep are
   * noted as offsets and copied once (a listing of 100,000 messages makes no slice per run).
   */
  static select(block: Buffer, names: ReadonlySet<string>, exclude: boolean): Buffer {
    const filter = new HeaderFieldFilter(names, exclude);
    const runs = selectedRuns;
    runs.length = 0;
    selectedBlock = block;
    filter.scan(block, keepSelected);
    runs.push(...filter.end());
    let length = 0;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as number | Buffer;
      length += typeof run === 'number' ? (runs[++i] as number) - run : run.length;
    }
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as number | Buffer;
      at += typeof run === 'number' ? block.copy(out, at, run, runs[++i] as number) : run.copy(out, at);
    }
    runs.length = 0;
    selectedBlock = undefined;
    return out;
  }

  push(piece: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.scan(piece, (bytes, start, end) => out.push(bytes.subarray(start, end)));
    return out;
  }

  /** Passes over a piece; `keep` is given each run of the selected lines, in order. */
  private scan(piece: Buffer, keep: (bytes: Buffer, start: number, end: number) => void): void {
    /** Start of the selected lines being passed over in this piece (kept as one run), -1 if none. */
    let run = -1;
    let pos = 0;
    while (pos < piece.length && !this.ended) {
      if (this.pendingLength > 0) {
        pos = this.completeName(piece, pos, keep);
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
          const next = this.startField(piece, pos);
          if ((!this.include || next !== pos) && run >= 0) {
            if (pos > run) keep(piece, run, pos);
            run = -1;
          }
          pos = next;
          continue;
        }
      }
      if (this.include && run < 0) run = pos;
      pos = this.restOfLine(piece, pos);
    }
    if (run >= 0 && pos > run) keep(piece, run, pos);
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
      if (this.matches(line, 0, line.length)) out.push(line);
      this.pendingLine = [];
      this.pendingLength = 0;
    }
    if (this.ended || !this.exclude) out.push(EMPTY_LINE);
    return out;
  }

  private startField(piece: Buffer, pos: number): number {
    const colon = indexOfNameEnd(piece, pos);
    if (colon < 0) {
      this.pendingLine.push(piece.subarray(pos));
      this.pendingLength = piece.length - pos;
      return piece.length;
    }
    this.include = this.matches(piece, pos, colon);
    this.atLineStart = false;
    return pos;
  }

  private completeName(piece: Buffer, pos: number, keep: (bytes: Buffer, start: number, end: number) => void): number {
    const colon = indexOfNameEnd(piece, pos);
    if (colon < 0 && this.pendingLength + piece.length - pos <= MAX_NAME) {
      this.pendingLine.push(piece.subarray(pos));
      this.pendingLength += piece.length - pos;
      return piece.length;
    }
    const nameEnd = colon < 0 ? pos : colon;
    const name = Buffer.concat([...this.pendingLine, piece.subarray(pos, nameEnd)]);
    this.include = this.matches(name, 0, name.length);
    this.atLineStart = false;
    if (this.include) for (const pending of this.pendingLine) keep(pending, 0, pending.length);
    this.pendingLine = [];
    this.pendingLength = 0;
    return pos;
  }

  /** Passes over the rest of a line (the caller sends it if selected); where the next line starts. */
  private restOfLine(piece: Buffer, pos: number): number {
    const lf = piece.indexOf(LF, pos);
    this.atLineStart = lf >= 0;
    return lf < 0 ? piece.length : lf + 1;
  }

  /** Whether a field is selected; a line without a colon is a field whose name is the whole line. */
  private matches(bytes: Buffer, start: number, end: number): boolean {
    let last = end;
    while (last > start && (bytes[last - 1] === SP || bytes[last - 1] === HT || bytes[last - 1] === CR)) last--;
    return this.names.has(bytes, start, last - start) !== this.exclude;
  }
}

/**
 * Where select() notes its runs: start and end offsets into the block, or (a name cut across
 * pieces: never, in one block) bytes of their own. Module-wide, with the function that fills
 * them, so that a listing of 100,000 messages makes no array and no closure per message;
 * select() is synchronous, so one at a time uses them.
 */
const selectedRuns: (number | Buffer)[] = [];
let selectedBlock: Buffer | undefined;
function keepSelected(bytes: Buffer, start: number, end: number): void {
  if (bytes === selectedBlock) selectedRuns.push(start, end);
  else selectedRuns.push(bytes.subarray(start, end));
}

/**
 * The field names a command asks for, compiled once: a name is matched byte by byte, ASCII case
 * folded, without making a string per header line. Kept by the list's text, since a client asks
 * the same list on every command (a filter, a client listing a folder message by message).
 */
class FieldNames {
  /** By the command's set of names: a FETCH of many messages looks its list up once per message. */
  private static readonly ofSet = new WeakMap<ReadonlySet<string>, FieldNames>();
  /** The most recent lists compiled, by their text (a Map keeps insertion order: the oldest goes first). */
  private static readonly ofText = new Map<string, FieldNames>();
  private static readonly KEPT = 32;
  /** The names in capitals as bytes, by length. */
  private readonly byLength = new Map<number, Buffer[]>();

  private constructor(names: ReadonlySet<string>) {
    for (const name of names) {
      const bytes = Buffer.from(name.toUpperCase(), 'latin1');
      const sameLength = this.byLength.get(bytes.length);
      if (sameLength) sameLength.push(bytes);
      else this.byLength.set(bytes.length, [bytes]);
    }
  }

  static of(names: ReadonlySet<string>): FieldNames {
    let compiled = FieldNames.ofSet.get(names);
    if (compiled) return compiled;
    const text = [...names].join('\n');
    compiled = FieldNames.ofText.get(text);
    if (!compiled) {
      compiled = new FieldNames(names);
      if (FieldNames.ofText.size >= FieldNames.KEPT) FieldNames.ofText.delete(FieldNames.ofText.keys().next().value as string);
      FieldNames.ofText.set(text, compiled);
    }
    FieldNames.ofSet.set(names, compiled);
    return compiled;
  }

  /** Whether bytes[start, start + length) are one of the names. */
  has(bytes: Buffer, start: number, length: number): boolean {
    const candidates = this.byLength.get(length);
    if (!candidates) return false;
    for (const name of candidates) if (equalsUpper(bytes, start, name)) return true;
    return false;
  }
}

/** bytes[start, start + upper.length) equal `upper` (capitals) with their ASCII letters folded to capitals. */
function equalsUpper(bytes: Buffer, start: number, upper: Buffer): boolean {
  for (let i = 0; i < upper.length; i++) {
    const byte = bytes[start + i] as number;
    if ((byte >= 0x61 && byte <= 0x7a ? byte - 0x20 : byte) !== upper[i]) return false;
  }
  return true;
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
