/**
 * An ENVELOPE as upstream serialised it (cached verbatim), read back into its fields: strings,
 * NIL and lists, quoted strings and literals. Only what sort and thread keys need.
 */
export type EnvelopeValue = string | null | EnvelopeValue[];

export interface EnvelopeAddress {
  name: string | null;
  mailbox: string | null;
  host: string | null;
}

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[];
  to: EnvelopeAddress[];
  cc: EnvelopeAddress[];
  inReplyTo: string | null;
  messageId: string | null;
}

class Reader {
  pos = 0;
  constructor(private readonly bytes: Buffer) {}

  value(): EnvelopeValue {
    const bytes = this.bytes;
    while (bytes[this.pos] === 0x20) this.pos++;
    const c = bytes[this.pos];
    if (c === 0x28) {
      this.pos++;
      const list: EnvelopeValue[] = [];
      for (;;) {
        while (bytes[this.pos] === 0x20) this.pos++;
        if (this.pos >= bytes.length) return list;
        if (bytes[this.pos] === 0x29) {
          this.pos++;
          return list;
        }
        list.push(this.value());
      }
    }
    if (c === 0x22) return this.quoted();
    if (c === 0x7b) return this.literal();
    const start = this.pos;
    while (this.pos < bytes.length && ![0x20, 0x28, 0x29].includes(bytes[this.pos] as number)) this.pos++;
    const atom = bytes.toString('utf8', start, this.pos);
    return atom.toUpperCase() === 'NIL' ? null : atom;
  }

  private quoted(): string {
    const bytes = this.bytes;
    const parts: number[] = [];
    this.pos++;
    while (this.pos < bytes.length && bytes[this.pos] !== 0x22) {
      if (bytes[this.pos] === 0x5c) this.pos++;
      parts.push(bytes[this.pos++] as number);
    }
    this.pos++;
    return Buffer.from(parts).toString('utf8');
  }

  private literal(): string {
    const end = this.bytes.indexOf(0x7d, this.pos);
    const size = Number(this.bytes.toString('latin1', this.pos + 1, end).replace(/[+~]/g, ''));
    // `{n}` CRLF, then n bytes
    const start = end + 3;
    this.pos = start + size;
    return this.bytes.toString('utf8', start, start + size);
  }
}

const text = (value: EnvelopeValue | undefined): string | null => (typeof value === 'string' ? value : null);

function addresses(value: EnvelopeValue | undefined): EnvelopeAddress[] {
  if (!Array.isArray(value)) return [];
  return value.filter(Array.isArray).map((address) => ({ name: text(address[0]), mailbox: text(address[2]), host: text(address[3]) }));
}

export function parseEnvelope(raw: Buffer): Envelope {
  const fields = new Reader(raw).value();
  const list = Array.isArray(fields) ? fields : [];
  return {
    date: text(list[0]),
    subject: text(list[1]),
    from: addresses(list[2]),
    to: addresses(list[5]),
    cc: addresses(list[6]),
    inReplyTo: text(list[8]),
    messageId: text(list[9]),
  };
}
