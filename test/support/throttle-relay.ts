// A TCP relay between the proxy and a real Dovecot that behaves like a busy provider: it answers
// chosen commands itself (Microsoft 365's throttle answer, Gmail's lockout) instead of passing them on, and
// refuses connections beyond a number (with a BYE greeting, as a server at its limit does, or a
// TCP reset). Everything else passes through unchanged, or rewritten by a transform (a provider
// played by Dovecot: gmail-relay.ts). Plain IMAP only (no STARTTLS, no COMPRESS).
import net from 'node:net';
import { after } from 'node:test';

export interface RelayOptions {
  /** Connections at once; one more is refused. */
  maxConnections?: number;
  /** How a refused connection ends: `* BYE Too many simultaneous connections`, or a TCP reset. */
  refuse?: 'bye' | 'reset';
  /**
   * Called with each command's line (tag removed, e.g. `UID FETCH 1:5 (BODY.PEEK[])`): a number
   * of milliseconds has the relay answer `<tag> BAD Request is throttled. Suggested Backoff
   * Time: <n> milliseconds` without passing the command on.
   */
  throttle?: (command: string) => number | undefined;
  /**
   * Called with each command's line (after `throttle`): a text has the relay answer `<tag>
   * <text>` itself without passing the command on, e.g. `NO [OVERQUOTA] Account exceeded command
   * or bandwidth limits.` (Gmail's lockout).
   */
  answer?: (command: string) => string | undefined;
  /** Rewrites what passes: a provider played by Dovecot (test/support/gmail-relay.ts). */
  transform?: RelayTransform;
  /** Outside a test (the bench): the caller closes the relay; otherwise it closes after the test file. */
  closedByCaller?: boolean;
}

/** What a relay rewrites on its way through, in latin1 (byte for byte). */
export interface RelayTransform {
  /** A command line of the client, its tag and CRLF included (not a literal, not a line that follows one). */
  command?(line: string): string;
  /** A whole response of the server, its literals inline and its CRLF included. */
  response?(response: Buffer): Buffer;
}

/** A command the relay saw, when, on which connection, and whether it answered it with a throttle. */
export interface RelayCommand {
  conn: number;
  at: number;
  command: string;
  throttledMs?: number;
  /** The tagged answer the relay gave itself (`answer`). */
  answered?: string;
}

/** Where a byte stream is: inside a line, at a line's end, or inside a literal the line announced. */
class LineTracker {
  private literalLeft = 0;
  /** The end of the current line so far (enough to see a `{n}` or `{n+}` before its CRLF). */
  private tail = '';

  get atBoundary(): boolean {
    return this.literalLeft === 0 && this.tail === '';
  }

  /**
   * Splits `chunk` into pieces that each end at a boundary or at the chunk's end; calls `piece`
   * for each: with the whole `line` when the piece ends one, `partial` when it is the start of a
   * line that goes on in the next chunk.
   */
  feed(chunk: Buffer, piece: (bytes: Buffer, line?: string, partial?: boolean) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, chunk.length - offset);
        this.literalLeft -= take;
        piece(chunk.subarray(offset, offset + take));
        offset += take;
        continue;
      }
      const lf = chunk.indexOf(10, offset);
      if (lf < 0) {
        this.tail = (this.tail + chunk.toString('latin1', offset)).slice(-65536);
        piece(chunk.subarray(offset), undefined, true);
        return;
      }
      const line = (this.tail + chunk.toString('latin1', offset, lf + 1)).slice(-65536);
      this.tail = '';
      const literal = /\{(\d+)\+?\}\r\n$/.exec(line);
      if (literal) this.literalLeft = Number(literal[1]);
      piece(chunk.subarray(offset, lf + 1), line);
      offset = lf + 1;
    }
  }
}

export interface ThrottleRelay {
  port: number;
  /** Every command passed on or answered, in order. */
  commands: RelayCommand[];
  /** When each connection that was let through was accepted. */
  accepted: Map<number, number>;
  /** Connections refused so far. */
  refused: number;
  /** The most connections open at once. */
  peak: number;
  close(): Promise<void>;
}

export async function startRelay(target: { host: string; port: number }, options: RelayOptions = {}): Promise<ThrottleRelay> {
  const sockets = new Set<net.Socket>();
  let open = 0;
  let next = 1;
  const relay: ThrottleRelay = { port: 0, commands: [], accepted: new Map(), refused: 0, peak: 0, close: async () => undefined };

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (options.maxConnections !== undefined && open >= options.maxConnections) {
      relay.refused++;
      if (options.refuse === 'reset') client.resetAndDestroy();
      else client.end('* BYE Too many simultaneous connections\r\n');
      return;
    }
    open++;
    relay.peak = Math.max(relay.peak, open);
    const conn = next++;
    relay.accepted.set(conn, Date.now());
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    const fromServer = new LineTracker();
    const fromClient = new LineTracker();
    /** Throttle answers waiting for the server's output to reach a line's end. */
    const injected: string[] = [];
    let commandStart = true;
    const flush = () => {
      while (injected.length && fromServer.atBoundary) client.write(injected.shift() as string);
    };
    const rewrite = options.transform;
    /** The pieces of the server's response under way (with a response transform), or of the client's command line. */
    let response: Buffer[] = [];
    let lineStart: Buffer[] = [];
    upstream.on('data', (chunk: Buffer) =>
      fromServer.feed(chunk, (bytes, line) => {
        if (!rewrite?.response) client.write(bytes);
        else {
          response.push(bytes);
          if (line === undefined || /\{\d+\+?\}\r\n$/.test(line)) return;
          client.write(rewrite.response(Buffer.concat(response)));
          response = [];
        }
        flush();
      }),
    );
    client.on('data', (chunk: Buffer) =>
      fromClient.feed(chunk, (piece, line, partial) => {
        // a command line is passed on whole
        if (partial && commandStart) {
          lineStart.push(Buffer.from(piece));
          return;
        }
        let bytes = lineStart.length ? Buffer.concat([...lineStart, piece]) : piece;
        lineStart = [];
        if (line !== undefined && commandStart && rewrite?.command) bytes = Buffer.from(rewrite.command(bytes.toString('latin1')), 'latin1');
        if (line === undefined || !commandStart) {
          // a literal, the rest of a line, or a line that follows a literal of the same command
          if (line !== undefined) commandStart = !/\{\d+\+?\}\r\n$/.test(line);
          upstream.write(bytes);
          return;
        }
        const match = /^(\S+) (.*?)\r?\n$/.exec(line);
        const command = match?.[2] ?? line.trim();
        const throttledMs = match ? options.throttle?.(command) : undefined;
        const answered = !match ? undefined : throttledMs !== undefined ? `BAD Request is throttled. Suggested Backoff Time: ${throttledMs} milliseconds` : options.answer?.(command);
        relay.commands.push({ conn, at: Date.now(), command, ...(throttledMs !== undefined ? { throttledMs } : {}), ...(answered !== undefined ? { answered } : {}) });
        if (answered !== undefined && match) {
          injected.push(`${match[1]} ${answered}\r\n`);
          flush();
          return;
        }
        commandStart = !/\{\d+\+?\}\r\n$/.test(line);
        upstream.write(bytes);
      }),
    );
    const end = () => {
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    let counted = true;
    const closed = () => {
      if (counted) open--;
      counted = false;
      end();
    };
    client.on('close', closed);
    upstream.on('close', closed);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  if (!options.closedByCaller) after(() => relay.close());
  return relay;
}
