// npm run bench: speed and memory of the proxy, measured against baselines taken in the same run.
//
//   node dist/bench/run.js [--only local,wan] [--runs 3] [--messages 2000] [--wan-messages 300]
//
// Results go to bench/results/bench.json and bench/results/bench.md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { corpusFolders, generateCorpus } from '../test/support/corpus.js';
import { startDovecot, type Dovecot } from '../test/support/dovecot.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { startImapcPeer } from './imapc-peer.js';
import { startProxyProcess } from './proxy-process.js';
import { startWanRelay } from './wan-relay.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'local,wan' },
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '2000' },
    'wan-messages': { type: 'string', default: '300' },
  },
});
const RUNS = Number(args.runs);
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  runs: RUNS,
};
const RESULTS_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bench/results');
const work = await mkdtemp(path.join(os.tmpdir(), 'imapcp-bench-'));
let dirCount = 0;
const freshDir = () => path.join(work, `d${++dirCount}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const log = (line: string) => process.stdout.write(`${line}\n`);

async function corpusDovecot(messages: number): Promise<Dovecot> {
  const dovecot = await startDovecot();
  for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
  const loaded = await deliver(dovecot.mailDir(), generateCorpus({ seed: 42, messages, bigFraction: 0.02, bigSizeMb: 5 }));
  log(`corpus: ${loaded.messages} messages, ${(loaded.bytes / 1e6).toFixed(0)} MB`);
  return dovecot;
}

async function times(label: string, count: number, pull: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await pull());
    log(`  ${label} #${i + 1}: ${(out[i] as number).toFixed(2)} s`);
  }
  return out;
}

/** Cold pull on an empty cache, then a second client into a fresh directory; per run a new proxy. */
async function proxyRuns(upstreamPort: number, expected: Record<string, string[]>) {
  const cold: number[] = [];
  const warm: number[] = [];
  let peak = 0;
  for (let run = 1; run <= RUNS; run++) {
    const data = freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${upstreamPort}`, '--data', data, '--prefetch', 'off']);
    const coldDir = freshDir();
    cold.push(await mbsyncPull(proxy.port, coldDir));
    const warmDir = freshDir();
    warm.push(await mbsyncPull(proxy.port, warmDir));
    peak = Math.max(peak, proxy.peakRssAnonMb());
    await proxy.stop();
    log(`  proxy run #${run}: cold ${cold[run - 1]?.toFixed(2)} s, warm ${warm[run - 1]?.toFixed(2)} s`);
    for (const dir of [coldDir, warmDir]) {
      const got = await maildirDigests(dir);
      if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`pull through the proxy differs from the direct pull (${dir})`);
      await rm(dir, { recursive: true, force: true });
    }
    await rm(data, { recursive: true, force: true });
  }
  return { cold, warm, peak };
}

async function localScenario() {
  log(`\n== local: mbsync pull, ${args.messages} messages, straight from Dovecot vs through the proxy`);
  const dovecot = await corpusDovecot(Number(args.messages));
  try {
    const reference = freshDir();
    await mbsyncPull(dovecot.port, reference); // also warms the page cache
    const expected = await maildirDigests(reference);
    await rm(reference, { recursive: true, force: true });
    const direct = await times('direct', RUNS, async () => {
      const dir = freshDir();
      const t = await mbsyncPull(dovecot.port, dir);
      await rm(dir, { recursive: true, force: true });
      return t;
    });
    const proxied = await proxyRuns(dovecot.port, expected);

    // a restarted proxy serves a second client from the cache alone
    await dovecot.waitSessionsClosed();
    const data = freshDir();
    let proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data]);
    await mbsyncPull(proxy.port, freshDir());
    await proxy.stop();
    await dovecot.waitSessionsClosed();
    const before = await dovecot.bodyCount();
    proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data]);
    await mbsyncPull(proxy.port, freshDir());
    await proxy.stop();
    await dovecot.waitSessionsClosed();
    const upstreamBodies = (await dovecot.bodyCount()) - before;

    const d = median(direct);
    return {
      messages: Number(args.messages),
      directSeconds: direct.map((x) => round(x)),
      coldSeconds: proxied.cold.map((x) => round(x)),
      warmSeconds: proxied.warm.map((x) => round(x)),
      coldRatio: round(median(proxied.cold) / d),
      warmRatio: round(median(proxied.warm) / d),
      peakRssAnonMb: round(proxied.peak, 0),
      upstreamBodiesForSecondClientAfterRestart: upstreamBodies,
    };
  } finally {
    await dovecot.destroy();
  }
}

async function wanScenario() {
  log(`\n== wan: ${args['wan-messages']} messages, upstream across a 25 ms / 100 Mbit link`);
  const dovecot = await corpusDovecot(Number(args['wan-messages']));
  const relay = await startWanRelay(dovecot.port, 25, 100);
  try {
    const reference = freshDir();
    await mbsyncPull(dovecot.port, reference);
    const expected = await maildirDigests(reference);
    const direct = await times('direct via link', RUNS, () => mbsyncPull(relay.port, freshDir()));
    const proxied = await proxyRuns(relay.port, expected);
    const peer = await startImapcPeer(relay.port);
    let peerCold = NaN;
    let peerWarm = NaN;
    try {
      peerCold = await mbsyncPull(peer.port, freshDir());
      peerWarm = await mbsyncPull(peer.port, freshDir());
      log(`  Dovecot imapc peer: cold ${peerCold.toFixed(2)} s, warm ${peerWarm.toFixed(2)} s`);
    } finally {
      await peer.stop();
    }
    const d = median(direct);
    return {
      messages: Number(args['wan-messages']),
      link: { delayMs: 25, rateMbit: 100 },
      directSeconds: direct.map((x) => round(x)),
      coldSeconds: proxied.cold.map((x) => round(x)),
      warmSeconds: proxied.warm.map((x) => round(x)),
      coldRatio: round(median(proxied.cold) / d),
      warmRatio: round(median(proxied.warm) / d, 3),
      imapcPeer: { coldSeconds: round(peerCold), warmSeconds: round(peerWarm), coldRatio: round(peerCold / d), warmRatio: round(peerWarm / d) },
    };
  } finally {
    await relay.close();
    await dovecot.destroy();
  }
}

function markdown(): string {
  const lines = [`# imap-cache-proxy benchmark`, '', `${results.date} · ${JSON.stringify(results.machine)} · median of ${RUNS} runs`, ''];
  const local = results.local as Awaited<ReturnType<typeof localScenario>> | undefined;
  const wan = results.wan as Awaited<ReturnType<typeof wanScenario>> | undefined;
  lines.push('| scenario | direct (s) | proxy cold (s) | ratio | proxy warm (s) | ratio | other |', '| --- | --- | --- | --- | --- | --- | --- |');
  if (local) {
    lines.push(
      `| mbsync, ${local.messages} messages, loopback | ${median(local.directSeconds)} | ${median(local.coldSeconds)} | ${local.coldRatio}x | ${median(local.warmSeconds)} | ${local.warmRatio}x | peak RssAnon ${local.peakRssAnonMb} MB; bodies upstream for a 2nd client after restart: ${local.upstreamBodiesForSecondClientAfterRestart} |`,
    );
  }
  if (wan) {
    lines.push(
      `| mbsync, ${wan.messages} messages, 25 ms / 100 Mbit | ${median(wan.directSeconds)} | ${median(wan.coldSeconds)} | ${wan.coldRatio}x | ${median(wan.warmSeconds)} | ${wan.warmRatio}x | Dovecot imapc: cold ${wan.imapcPeer.coldRatio}x, warm ${wan.imapcPeer.warmRatio}x |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

try {
  const only = new Set((args.only as string).split(','));
  if (only.has('local')) results['local'] = await localScenario();
  if (only.has('wan')) results['wan'] = await wanScenario();
  await writeFile(path.join(RESULTS_DIR, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(path.join(RESULTS_DIR, 'bench.md'), markdown());
  log(`\n${markdown()}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
