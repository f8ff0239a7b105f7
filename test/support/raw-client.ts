// A minimal raw IMAP client for tests: sends a command, returns every response line of it with
// literals inline, as bytes. Used to compare what the proxy answers with what Dovecot answers.
import net from 'node:net';
import { after } from 'node:test';

export interface RawResponse {
  /** Untagged responses, each with its literals inline, without the final CRLF. */
  untagged: Buffer[];
  /** The tagged status line. */
  tagged: string;
}

export class RawImapClient {
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private tag = 0;
  private idleTag = '';
  private closed = false;
  /** The server's first line (a refused connection's `* BYE ...` too). */
  greeting = '';

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.waiters.splice(0).forEach((wake) => wake());
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((wake) => wake());
    });
  }

  /** Connects (from `localAddress`, e.g. another loopback address, when given) and reads the greeting. */
  static async connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawImapClient> {
    const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => undefined); // a reset shows as the close that follows
    const client = new RawImapClient(socket);
    client.greeting = (await client.readResponse()).toString('latin1');
    return client;
  }

  /** Sends `TAG command` and collects the answer; literals in the command are sent as synchronizing. */
  async command(command: string): Promise<RawResponse> {
    const tag = `T${++this.tag}`;
    this.socket.write(`${tag} ${command}\r\n`);
    const untagged: Buffer[] = [];
    for (;;) {
      const line = await this.readResponse();
      const text = line.toString('latin1');
      if (text.startsWith(`${tag} `)) return { untagged, tagged: text };
      if (text.startsWith('* ')) untagged.push(line);
    }
  }

  async login(user = 'test', pass = 'pass'): Promise<void> {
    const r = await this.command(`LOGIN "${user}" "${pass}"`);
    if (!/^T\d+ OK/.test(r.tagged)) throw new Error(`login failed: ${r.tagged}`);
  }

  /** Starts IDLE; resolves once the server accepted it. */
  async idle(): Promise<void> {
    this.idleTag = `T${++this.tag}`;
    this.socket.write(`${this.idleTag} IDLE\r\n`);
    for (;;) {
      const line = (await this.readResponse()).toString('latin1');
      if (line.startsWith('+')) return;
      if (line.startsWith(`${this.idleTag} `)) throw new Error(`IDLE refused: ${line}`);
    }
  }

  /** Ends IDLE; returns the untagged responses that came before the tagged OK. */
  async done(): Promise<Buffer[]> {
    this.socket.write('DONE\r\n');
    const untagged: Buffer[] = [];
    for (;;) {
      const line = await this.readResponse();
      if (line.toString('latin1').startsWith(`${this.idleTag} `)) return untagged;
      untagged.push(line);
    }
  }

  /** Reads untagged responses until one matches (e.g. while idling); fails after the timeout. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response matching ${pattern} within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const line = await Promise.race([
        this.readResponse(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no response matching ${pattern} within ${timeoutMs} ms`)), left);
        }),
      ]).finally(() => clearTimeout(timer));
      const text = line.toString('latin1');
      if (pattern.test(text)) return text;
    }
  }

  /** Stops reading from the socket: the server's output backs up (a client that does not read). */
  pause(): void {
    this.socket.pause();
  }

  /** Writes raw bytes (for hostile-input tests). */
  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** What the server sent that no call has read yet (to see that something was not sent). */
  get unread(): string {
    return this.buffer.toString('latin1');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once the server has closed the connection; fails after the timeout. */
  async waitClosed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** One response: a line, plus literals ({n}, literal8 ~{n}) and the continuation of the line after each. */
  async readResponse(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const end = await this.until(() => this.buffer.indexOf('\r\n'));
      const line = this.take(end + 2);
      parts.push(line);
      const literal = /~?\{(\d+)\}\r\n$/.exec(line.toString('latin1'));
      if (!literal) return Buffer.concat(parts).subarray(0, -2);
      const size = Number(literal[1]);
      await this.until(() => (this.buffer.length >= size ? size : -1));
      parts.push(this.take(size));
    }
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private async until(test: () => number): Promise<number> {
    for (;;) {
      const at = test();
      if (at >= 0) return at;
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/** The items of one untagged FETCH response: item name (uppercased) -> raw value bytes. */
export function fetchItems(response: Buffer): { seq: number; items: Map<string, Buffer> } {
  const head = /^\* (\d+) FETCH \(/.exec(response.toString('latin1', 0, 64));
  if (!head) throw new Error(`not a FETCH response: ${response.toString('latin1', 0, 80)}`);
  const items = new Map<string, Buffer>();
  let pos = head[0].length;
  while (pos < response.length && response[pos] !== 0x29 /* ) */) {
    const nameEnd = itemNameEnd(response, pos);
    const name = response.toString('latin1', pos, nameEnd).toUpperCase();
    const valueStart = nameEnd + 1; // the space
    const valueEnd = skipValue(response, valueStart);
    items.set(name, response.subarray(valueStart, valueEnd));
    pos = response[valueEnd] === 0x20 ? valueEnd + 1 : valueEnd;
  }
  return { seq: Number(head[1]), items };
}

/** End of an item name such as BODY[HEADER.FIELDS (A B)]<0>. */
function itemNameEnd(data: Buffer, pos: number): number {
  let depth = 0;
  for (let i = pos; i < data.length; i++) {
    const c = data[i];
    if (c === 0x5b /* [ */) depth++;
    else if (c === 0x5d /* ] */) depth--;
    else if (c === 0x20 && depth === 0) return i;
  }
  throw new Error('unterminated FETCH item name');
}

/** End of one value: atom, quoted string, literal (or literal8) or parenthesised list. */
function skipValue(data: Buffer, pos: number): number {
  const c = data[pos];
  if (c === 0x22 /* " */) {
    for (let i = pos + 1; i < data.length; i++) {
      if (data[i] === 0x5c) i++;
      else if (data[i] === 0x22) return i + 1;
    }
    throw new Error('unterminated string');
  }
  if (c === 0x7e /* ~ */ && data[pos + 1] === 0x7b) return skipValue(data, pos + 1) ; // literal8
  if (c === 0x7b /* { */) {
    const close = data.indexOf('}', pos);
    const size = Number(data.toString('latin1', pos + 1, close));
    return close + 3 + size;
  }
  if (c === 0x28 /* ( */) {
    let i = pos + 1;
    while (data[i] !== 0x29) {
      if (data[i] === 0x20) i++;
      else i = skipValue(data, i);
    }
    return i + 1;
  }
  let i = pos;
  while (i < data.length && data[i] !== 0x20 && data[i] !== 0x29) i++;
  return i;
}

/**
 * Opens raw clients for one test suite and closes all of them when it ends. Each is logged in
 * as test / pass unless `login: false`.
 */
export function suiteClients(): (port: number, options?: { login?: boolean; localAddress?: string }) => Promise<RawImapClient> {
  const opened: RawImapClient[] = [];
  after(() => opened.forEach((client) => client.close()));
  return async (port, { login = true, localAddress } = {}) => {
    const client = await RawImapClient.connect(port, '127.0.0.1', localAddress);
    opened.push(client);
    if (login) await client.login();
    return client;
  };
}
