const LF = 0x0a;
const CR = 0x0d;

/**
 * Finds where a message's header block ends (just past its first empty line), fed the raw bytes
 * in pieces. This is the one structural fact the proxy takes from message bytes: it splits
 * BODY[HEADER] from BODY[TEXT] and decodes nothing. An empty line is CRLF CRLF or a bare LF LF;
 * a message without one is all header.
 */
export class HeaderBoundaryScanner {
  /** Bytes consumed so far. */
  private offset = 0;
  /** 1: the previous byte ended a line; 2: the previous bytes were a line end and a CR. */
  private state: 0 | 1 | 2 = 1; // the message starts at a line start
  private found = -1;

  /** Offset just past the empty line, or -1 while none has been seen. */
  get headerLength(): number {
    return this.found;
  }

  push(chunk: Buffer): void {
    if (this.found >= 0) return;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 1) {
        const byte = chunk[pos];
        if (byte === LF) return this.finish(pos + 1);
        if (byte === CR) {
          this.state = 2;
          pos++;
          continue;
        }
        this.state = 0;
      } else if (this.state === 2) {
        if (chunk[pos] === LF) return this.finish(pos + 1);
        this.state = 0;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf < 0) break;
      pos = lf + 1;
      this.state = 1;
    }
    this.offset += chunk.length;
  }

  private finish(posInChunk: number): void {
    this.found = this.offset + posInChunk;
  }
}

export function headerLengthOf(bytes: Buffer): number {
  const scanner = new HeaderBoundaryScanner();
  scanner.push(bytes);
  return scanner.headerLength < 0 ? bytes.length : scanner.headerLength;
}
