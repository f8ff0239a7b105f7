// The floor under any caching proxy, for the bench: a TCP relay between a client and upstream
// that also stores every byte upstream sends in the proxy's own body store (LevelDB, in chunks,
// with the same backpressure). It parses and serves no IMAP, so what a cold pull through it costs
// over a direct one is what putting the bytes into the cache costs on this machine, before any of
// the proxy's work.
//
//   node dist/bench/caching-relay.js LISTEN_PORT UPSTREAM_PORT DIR
import net from 'node:net';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { BodyStore, toChunks } from '../src/cache/body-store.js';
import { BODY_CHUNK_SIZE } from '../src/model/limits.js';

const [listenPort, upstreamPort, dir] = process.argv.slice(2);
if (!listenPort || !upstreamPort || !dir) throw new Error('usage: caching-relay.js LISTEN_PORT UPSTREAM_PORT DIR');
const store = await BodyStore.open(dir);

/** Passes bytes through unchanged and appends them to the store, a chunk at a time. */
function storingTee(): Transform {
  let pieces: Buffer[] = [];
  let filled = 0;
  const append = async (): Promise<void> => {
    const bytes = Buffer.concat(pieces, filled);
    pieces = [];
    filled = 0;
    await store.space();
    const { range, written } = store.append(toChunks(bytes));
    written.then(() => store.settle([range]), (err: unknown) => tee.destroy(err as Error));
  };
  const tee = new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      pieces.push(data);
      filled += data.length;
      if (filled < BODY_CHUNK_SIZE) return done(null, data);
      append().then(() => done(null, data), done);
    },
    flush(done: TransformCallback) {
      if (filled === 0) return done();
      append().then(() => done(), done);
    },
  });
  return tee;
}

net
  .createServer((client) => {
    const upstream = net.connect(Number(upstreamPort), '127.0.0.1');
    const close = () => (client.destroy(), upstream.destroy());
    pipeline(client, upstream, close);
    pipeline(upstream, storingTee(), client, close);
  })
  .listen(Number(listenPort), '127.0.0.1');
