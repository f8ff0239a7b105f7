const OPEN = 0x28;
const CLOSE = 0x29;
const SPACE = 0x20;
const ZERO = 0x30;

/**
 * A `* THREAD` answer as it is written: digits, parentheses and spaces into one growing byte
 * buffer, not an array of small strings (a million messages would be millions of them).
 */
export class AsciiWriter {
  private bytes: Buffer;
  private length = 0;

  /** `expected`: about how many bytes the answer takes (it grows beyond if need be). */
  constructor(expected: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(64, expected));
  }

  open(): void {
    this.byte(OPEN);
  }

  close(): void {
    this.byte(CLOSE);
  }

  space(): void {
    this.byte(SPACE);
  }

  /** A non-negative integer in decimal. */
  number(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.reserve(digits);
    let rest = value;
    for (let at = this.length + digits - 1; at >= this.length; at--) {
      this.bytes[at] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.length += digits;
  }

  toString(): string {
    return this.bytes.toString('latin1', 0, this.length);
  }

  private byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + count));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}
