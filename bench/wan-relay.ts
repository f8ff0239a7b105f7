// A TCP relay that behaves like a link across the internet: a fixed one-way delay and a bandwidth
// cap per direction and connection. Bytes pass unchanged.
import net from 'node:net';

export interface WanRelay {
  port: number;
  /** Bytes that crossed the link since the start (or the last resetBytes), each way. */
  bytes(): { toServer: number; toClient: number };
  resetBytes(): void;
  close(): Promise<void>;
}

/** Bytes queued in one direction before the sender is paused (TCP's window, roughly). */
const MAX_QUEUED = 4 * 1024 * 1024;

export async function startWanRelay(targetPort: number, delayMs: number, rateMbit: number): Promise<WanRelay> {
  const sockets = new Set<net.Socket>();
  const crossed = { toServer: 0, toClient: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pump(client, upstream, delayMs, rateMbit, (n) => (crossed.toServer += n));
    pump(upstream, client, delayMs, rateMbit, (n) => (crossed.toClient += n));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes: () => ({ ...crossed }),
    resetBytes: () => {
      crossed.toServer = 0;
      crossed.toClient = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

function pump(from: net.Socket, to: net.Socket, delayMs: number, rateMbit: number, count: (bytes: number) => void): void {
  const bytesPerMs = (rateMbit * 1e6) / 8 / 1000;
  let nextFree = 0; // when the link is free to start sending the next chunk
  let queued = 0;
  let ended = false;
  // one FIFO and one timer per direction: a timer per chunk could fire out of order (timers
  // round to whole ms against a loop clock that lags performance.now()) and reorder the stream
  const inFlight: { at: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deliver = () => {
    timer = undefined;
    const now = performance.now();
    while (inFlight.length > 0 && (inFlight[0] as { at: number }).at <= now) {
      const { chunk } = inFlight.shift() as { chunk: Buffer };
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued <= MAX_QUEUED) from.resume();
    if (inFlight.length > 0) timer = setTimeout(deliver, Math.max(1, (inFlight[0] as { at: number }).at - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    const now = performance.now();
    const start = Math.max(now + delayMs, nextFree);
    nextFree = start + chunk.length / bytesPerMs;
    queued += chunk.length;
    if (queued > MAX_QUEUED) from.pause();
    // delivered when its last byte has crossed the link
    inFlight.push({ at: nextFree, chunk });
    if (!timer) timer = setTimeout(deliver, Math.max(1, nextFree - now));
  });
  from.on('end', () => {
    ended = true;
    if (!timer) timer = setTimeout(deliver, 0);
  });
}
