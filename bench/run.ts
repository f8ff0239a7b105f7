// npm run bench: speed and memory of the proxy, measured against baselines taken in the same run.
//
//   node dist/bench/run.js [--only startup,local,wan,memory,parts,append,stress,scale,nocondstore,sort,oauth,dedupe] [--runs 3] [--messages 2000] [--wan-messages 300]
//                          [--memory-messages 1000,10000] [--big-message-mb 200] [--small-messages 20]
//                          [--stall-timeout 300] [--stress-secs 60] [--scale-messages 100000] [--sort-messages 10000] [--sort-large-messages 200000]
//                          [--nocondstore-messages 100000] [--part-message-mb 37] [--oauth-minutes 5] [--dedupe-messages 300] [--results DIR]
//
// The stress scenario runs Dovecot's imaptest where it is installed (../shared/eval/build-imaptest.sh).
//
// Results go to bench/results/bench.json and bench/results/bench.md (the memory scenario adds
// bench/results/rss-<messages>.svg); --results writes them elsewhere, e.g. for a trial run.
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { corpusFolders, generateCorpus } from '../test/support/corpus.js';
import { startDovecot, type Dovecot } from '../test/support/dovecot.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { startImapcPeer } from './imapc-peer.js';
import { memoryScenario, type MemoryResults } from './memory.js';
import { oauthMarkdown, oauthScenario, type OAuthResults } from './oauth.js';
import { partsMarkdown, partsScenario, type PartsResults } from './parts.js';
import { appendMarkdown, appendScenario, type AppendResults } from './append.js';
import { dedupeMarkdown, dedupeScenario, type DedupeResults } from './dedupe.js';
import { startCachingRelay, startProxyProcess } from './proxy-process.js';
import { startupMarkdown, startupScenario, type StartupResults } from './startup.js';
import { noCondstoreMarkdown, noCondstoreScenario, type NoCondstoreResults } from './nocondstore.js';
import { scaleMarkdown, scaleScenario, type ScaleResults } from './scale.js';
import { sortMarkdown, sortScenario, type SortResults } from './sort.js';
import { imaptestInstalled, stressMarkdown, stressScenario, type StressResults } from './stress.js';
import { freeDiskGb, log, median, round } from './util.js';
import { startWanRelay } from './wan-relay.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'startup,local,wan,memory,parts,append,stress,scale,nocondstore,sort,oauth,dedupe' },
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '2000' },
    'wan-messages': { type: 'string', default: '300' },
    'memory-messages': { type: 'string', default: '1000,10000' },
    'big-message-mb': { type: 'string', default: '200' },
    'small-messages': { type: 'string', default: '20' },
    'stall-timeout': { type: 'string', default: '300' },
    'stress-secs': { type: 'string', default: '60' },
    'scale-messages': { type: 'string', default: '100000' },
    'nocondstore-messages': { type: 'string', default: '100000' },
    'sort-messages': { type: 'string', default: '10000' },
    'sort-large-messages': { type: 'string', default: '200000' },
    // a 37 MB attachment makes a message of about 50 MB
    'part-message-mb': { type: 'string', default: '37' },
    'append-messages': { type: 'string', default: '20' },
    'append-message-mb': { type: 'string', default: '10' },
    'oauth-minutes': { type: 'string', default: '5' },
    'dedupe-messages': { type: 'string', default: '300' },
    results: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
/** 10,000 messages are ~1.9 GB in Dovecot, again in the proxy's cache and in an mbsync copy. */
const MIN_FREE_GB = 8;
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  runs: RUNS,
};
const RESULTS_DIR = args.results
  ? path.resolve(args.results)
  : path.resolve(import.meta.dirname, '../../bench/results');
const only = new Set((args.only as string).split(','));
const SCENARIOS = ['startup', 'local', 'wan', 'memory', 'parts', 'append', 'stress', 'scale', 'nocondstore', 'sort', 'oauth', 'dedupe'];
for (const name of only) if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario ${name} (${SCENARIOS.join(', ')})`);
const memorySizes = (args['memory-messages'] as string).split(',').map(Number);
if (memorySizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--memory-messages: a list of message counts, e.g. 1000,10000`);
const oauthMinutes = Number(args['oauth-minutes']);
if (!(oauthMinutes > 0)) throw new Error(`--oauth-minutes: minutes of pulls, more than 0 (e.g. 5, or 0.5 for a quick check)`);
if (only.has('memory')) {
  const free = await freeDiskGb(os.tmpdir());
  if (free < MIN_FREE_GB) {
    throw new Error(`the memory scenario needs ${MIN_FREE_GB} GB free under ${os.tmpdir()} (Dovecot's copy of the corpus, the proxy's cache, an mbsync copy), df says ${free.toFixed(1)} GB: free space or point TMPDIR elsewhere`);
  }
}
const work = await mkdtemp(path.join(os.tmpdir(), 'imapcp-bench-'));
let dirCount = 0;
const freshDir = () => path.join(work, `d${++dirCount}`);
// Ctrl-C or a kill: no GB of mail left behind (Dovecot's dirs and the proxies go on process exit)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: cleaning up`);
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

async function corpusDovecot(messages: number, options: { compress?: boolean } = {}): Promise<Dovecot> {
  const dovecot = await startDovecot(options);
  for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
  const loaded = await deliver(dovecot.mailDir(), generateCorpus({ seed: 42, messages, bigFraction: 0.02, bigSizeMb: 5 }));
  log(`corpus: ${loaded.messages} messages, ${(loaded.bytes / 1e6).toFixed(0)} MB`);
  return dovecot;
}

/**
 * Per run: the direct pull (the baseline), with `floor` a pull through the caching relay (the
 * cost of storing the bytes alone), then a new proxy with an empty cache, a cold pull through it
 * and a second client into a fresh directory. Interleaved, so a shared machine that gets busier or
 * quieter while the bench runs moves the baseline and the proxy alike.
 */
async function pullRuns(upstreamPort: number, directPull: () => Promise<number>, expected: Record<string, string[]>, options: { floor?: boolean } = {}) {
  const direct: number[] = [];
  const floor: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  let peak = 0;
  for (let run = 1; run <= RUNS; run++) {
    direct.push(await directPull());
    if (options.floor) floor.push(await relayPull(upstreamPort));
    const data = freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${upstreamPort}`, '--data', data, '--prefetch', 'off']);
    const coldDir = freshDir();
    cold.push(await mbsyncPull(proxy.port, coldDir));
    const warmDir = freshDir();
    warm.push(await mbsyncPull(proxy.port, warmDir));
    peak = Math.max(peak, proxy.peakRssAnonMb());
    await proxy.stop();
    const relayed = options.floor ? `, caching relay ${floor[run - 1]?.toFixed(2)} s` : '';
    log(`  run #${run}: direct ${direct[run - 1]?.toFixed(2)} s${relayed}, proxy cold ${cold[run - 1]?.toFixed(2)} s, warm ${warm[run - 1]?.toFixed(2)} s`);
    for (const dir of [coldDir, warmDir]) {
      const got = await maildirDigests(dir);
      if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`pull through the proxy differs from the direct pull (${dir})`);
      await rm(dir, { recursive: true, force: true });
    }
    await rm(data, { recursive: true, force: true });
  }
  return { direct, floor, cold, warm, peak };
}

/** An mbsync pull through the caching relay, into an empty store. */
async function relayPull(upstreamPort: number): Promise<number> {
  const data = freshDir();
  const relay = await startCachingRelay(upstreamPort, data);
  const dir = freshDir();
  try {
    return await mbsyncPull(relay.port, dir);
  } finally {
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(data, { recursive: true, force: true });
  }
}

async function localScenario() {
  log(`\n== local: mbsync pull, ${args.messages} messages, straight from Dovecot vs through the proxy`);
  const dovecot = await corpusDovecot(Number(args.messages));
  try {
    const reference = freshDir();
    await mbsyncPull(dovecot.port, reference); // also warms the page cache
    const expected = await maildirDigests(reference);
    await rm(reference, { recursive: true, force: true });
    const proxied = await pullRuns(
      dovecot.port,
      async () => {
        const dir = freshDir();
        const t = await mbsyncPull(dovecot.port, dir);
        await rm(dir, { recursive: true, force: true });
        return t;
      },
      expected,
      { floor: true },
    );
    const direct = proxied.direct;

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
      cachingRelaySeconds: proxied.floor.map((x) => round(x)),
      cachingRelayRatio: round(median(proxied.floor) / d),
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
    const proxied = await pullRuns(relay.port, () => mbsyncPull(relay.port, freshDir()), expected);
    const direct = proxied.direct;
    // the same client with Dovecot on this machine, no link: what a warm pull can come down to here
    const loopback: number[] = [];
    for (let run = 1; run <= RUNS; run++) loopback.push(await mbsyncPull(dovecot.port, freshDir()));
    log(`  straight from Dovecot on loopback: ${loopback.map((x) => x.toFixed(2)).join(', ')} s`);
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
    relay.resetBytes();
    await mbsyncPull(relay.port, freshDir());
    const plainMb = relay.bytes().toClient / 1e6;
    const compressed = await compressedLinkRuns(Number(args['wan-messages']));
    const d = median(direct);
    return {
      messages: Number(args['wan-messages']),
      link: { delayMs: 25, rateMbit: 100 },
      /** MB that crossed the link toward the client for a direct pull, without COMPRESS. */
      plainDirectMb: round(plainMb, 1),
      compressed,
      directSeconds: direct.map((x) => round(x)),
      coldSeconds: proxied.cold.map((x) => round(x)),
      warmSeconds: proxied.warm.map((x) => round(x)),
      coldRatio: round(median(proxied.cold) / d),
      warmRatio: round(median(proxied.warm) / d, 3),
      loopbackSeconds: loopback.map((x) => round(x)),
      loopbackRatio: round(median(loopback) / d, 3),
      imapcPeer: { coldSeconds: round(peerCold), warmSeconds: round(peerWarm), coldRatio: round(peerCold / d), warmRatio: round(peerWarm / d) },
    };
  } finally {
    await relay.close();
    await dovecot.destroy();
  }
}

/**
 * The link's cold pulls again, from a Dovecot that offers COMPRESS=DEFLATE (imap_zlib): the proxy
 * (imapflow turns it on) against mbsync straight across the link (isync turns it on too), with
 * the bytes that crossed the link toward the client.
 */
async function compressedLinkRuns(messages: number) {
  log('  the same link, Dovecot offering COMPRESS=DEFLATE:');
  const dovecot = await corpusDovecot(messages, { compress: true });
  const relay = await startWanRelay(dovecot.port, 25, 100);
  try {
    const direct: number[] = [];
    const cold: number[] = [];
    const directMb: number[] = [];
    const coldMb: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      relay.resetBytes();
      direct.push(await mbsyncPull(relay.port, freshDir()));
      directMb.push(relay.bytes().toClient / 1e6);
      const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${relay.port}`, '--data', freshDir(), '--prefetch', 'off']);
      try {
        relay.resetBytes();
        cold.push(await mbsyncPull(proxy.port, freshDir()));
        coldMb.push(relay.bytes().toClient / 1e6);
      } finally {
        await proxy.stop();
      }
      log(`  run #${run}: direct ${direct.at(-1)?.toFixed(2)} s (${directMb.at(-1)?.toFixed(1)} MB on the link), proxy cold ${cold.at(-1)?.toFixed(2)} s (${coldMb.at(-1)?.toFixed(1)} MB)`);
    }
    return {
      directSeconds: direct.map((x) => round(x)),
      coldSeconds: cold.map((x) => round(x)),
      coldRatio: round(median(cold) / median(direct)),
      directMb: round(median(directMb), 1),
      coldMb: round(median(coldMb), 1),
    };
  } finally {
    await relay.close();
    await dovecot.destroy();
  }
}

function markdown(): string {
  const lines = [`# imap-cache-proxy benchmark`, '', `${results.date} · ${JSON.stringify(results.machine)} · median of ${RUNS} runs, each a direct pull (on loopback also one through a relay that only stores the bytes in LevelDB) and then the proxy's cold and warm pulls`, ''];
  const local = results.local as Awaited<ReturnType<typeof localScenario>> | undefined;
  const wan = results.wan as Awaited<ReturnType<typeof wanScenario>> | undefined;
  if (local || wan) lines.push('| scenario | direct (s) | proxy cold (s) | ratio | proxy warm (s) | ratio | other |', '| --- | --- | --- | --- | --- | --- | --- |');
  if (local) {
    lines.push(
      `| mbsync, ${local.messages} messages, loopback | ${round(median(local.directSeconds))} | ${round(median(local.coldSeconds))} | ${local.coldRatio}x | ${round(median(local.warmSeconds))} | ${local.warmRatio}x | a relay that only stores the bytes: ${local.cachingRelayRatio}x; peak RssAnon ${local.peakRssAnonMb} MB; bodies upstream for a 2nd client after restart: ${local.upstreamBodiesForSecondClientAfterRestart} |`,
    );
  }
  if (wan) {
    lines.push(
      `| mbsync, ${wan.messages} messages, 25 ms / 100 Mbit | ${round(median(wan.directSeconds))} | ${round(median(wan.coldSeconds))} | ${wan.coldRatio}x | ${round(median(wan.warmSeconds))} | ${wan.warmRatio}x | Dovecot imapc: cold ${wan.imapcPeer.coldRatio}x, warm ${wan.imapcPeer.warmRatio}x; Dovecot on loopback (no link): ${wan.loopbackRatio}x |`,
    );
  }
  if (wan) {
    const c = wan.compressed;
    lines.push(
      `| the same, Dovecot offering COMPRESS=DEFLATE (both sides deflate) | ${round(median(c.directSeconds))} | ${round(median(c.coldSeconds))} | ${c.coldRatio}x | | | on the link toward the client: direct ${c.directMb} MB, proxy cold ${c.coldMb} MB (without COMPRESS: ${wan.plainDirectMb} MB) |`,
    );
  }
  const memory = results.memory as MemoryResults | undefined;
  if (memory) lines.push(...(local || wan ? [''] : []), ...memoryMarkdown(memory));
  const parts = results.parts as PartsResults | undefined;
  if (parts) lines.push('', ...partsMarkdown(parts));
  const append = results.append as AppendResults | undefined;
  if (append) lines.push('', ...appendMarkdown(append));
  const startup = results.startup as StartupResults | undefined;
  if (startup) lines.push('', ...startupMarkdown(startup));
  const stress = results.stress as StressResults | undefined;
  if (stress) lines.push('', ...stressMarkdown(stress));
  const scale = results.scale as ScaleResults | undefined;
  if (scale) lines.push('', ...scaleMarkdown(scale));
  const nocondstore = results.nocondstore as NoCondstoreResults | undefined;
  if (nocondstore) lines.push('', ...noCondstoreMarkdown(nocondstore));
  const sort = results.sort as SortResults | undefined;
  if (sort) lines.push('', ...sortMarkdown(sort));
  const oauth = results.oauth as OAuthResults | undefined;
  if (oauth) lines.push('', ...oauthMarkdown(oauth));
  const dedupe = results.dedupe as DedupeResults | undefined;
  if (dedupe) lines.push('', ...dedupeMarkdown(dedupe));
  return `${lines.join('\n')}\n`;
}

function memoryMarkdown(m: MemoryResults): string[] {
  const lines = [
    '## Memory: background sync (`--prefetch all`) into an empty cache, then an mbsync pull from it',
    '',
    '| messages | corpus (MB) | direct pull (s) | prefetch (s) | ratio | pull from cache (s) | ratio | peak RssAnon (MB) | peak in sync / pull (MB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of m.corpora) {
    lines.push(
      `| ${c.messages} (${c.bigMessages} with 5 MB) | ${c.corpusMb} | ${round(median(c.directSeconds))} | ${round(median(c.prefetchSeconds))} | ${c.prefetchRatio}x | ` +
        `${round(median(c.serveSeconds))} | ${c.serveRatio}x | ${c.peakRssAnonMb} | ${c.phasePeaksMb.prefetch} / ${c.phasePeaksMb.serve} |`,
    );
  }
  const b = m.bigMessage;
  if (b) {
    lines.push(
      `| 1 of ${b.messageMb} MB (${b.sizeMb} MB attachment) + ${b.smallMessages} small | ${b.messageMb} | ${b.directSeconds} | ${round(median(b.prefetchSeconds))} | ` +
        `${round(median(b.prefetchSeconds) / b.directSeconds)}x | ${round(median(b.serveSeconds))} | ${round(median(b.serveSeconds) / b.directSeconds)}x | ${b.peakRssAnonMb} | ${b.phasePeaksMb.prefetch} / ${b.phasePeaksMb.serve} |`,
    );
  }
  lines.push('');
  const first = m.corpora[0];
  const last = m.corpora[m.corpora.length - 1];
  if (m.peakGrowth !== undefined && first && last) lines.push(`Peak RssAnon ${last.messages} / ${first.messages} messages: ${m.peakGrowth}x.`, '');
  const charts = [
    ...(m.chart ? [`${last?.messages} messages: [${m.chart}](${m.chart})`] : []),
    ...(m.bigMessageChart && b ? [`one ${b.messageMb} MB message: [${m.bigMessageChart}](${m.bigMessageChart})`] : []),
  ];
  if (charts.length) lines.push(`RssAnon over time: ${charts.join(', ')}`, '');
  lines.push('| target | value | limit | |', '| --- | --- | --- | --- |');
  for (const c of m.checks) lines.push(`| ${c.target} | ${c.value} | ${c.limit} | ${c.met ? 'met' : '**MISSED**'} |`);
  return lines;
}

const benchStart = performance.now();
/** Runs one scenario and says how long it took (the whole bench's duration is their sum). */
async function timed<T>(name: string, scenario: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await scenario();
  log(`(${name} took ${((performance.now() - start) / 1000).toFixed(0)} s)`);
  return result;
}

try {
  if (only.has('startup')) results['startup'] = await timed('startup', () => startupScenario({ runs: Math.max(RUNS, 5), freshDir }));
  if (only.has('local')) results['local'] = await timed('local', localScenario);
  if (only.has('wan')) results['wan'] = await timed('wan', wanScenario);
  if (only.has('memory')) {
    await mkdir(RESULTS_DIR, { recursive: true });
    results['memory'] = await timed('memory', () => memoryScenario({
      sizes: memorySizes,
      runs: RUNS,
      bigMessageMb: Number(args['big-message-mb']),
      smallMessages: Number(args['small-messages']),
      stallSeconds: Number(args['stall-timeout']),
      freshDir,
      resultsDir: RESULTS_DIR,
    }));
  }
  if (only.has('parts')) results['parts'] = await timed('parts', () => partsScenario({ messageMb: Number(args['part-message-mb']), runs: RUNS, freshDir }));
  if (only.has('append')) {
    const appendOptions = { messages: Number(args['append-messages']), messageMb: Number(args['append-message-mb']), runs: RUNS, freshDir };
    results['append'] = await timed('append', () => appendScenario(appendOptions));
  }
  if (only.has('stress')) {
    if (imaptestInstalled()) results['stress'] = await timed('stress', () => stressScenario({ seconds: Number(args['stress-secs']), freshDir }));
    else log('\n== stress: skipped, imaptest is not installed (../shared/eval/build-imaptest.sh builds it)');
  }
  if (only.has('scale')) results['scale'] = await timed('scale', () => scaleScenario({ messages: Number(args['scale-messages']), runs: RUNS, freshDir }));
  if (only.has('nocondstore')) {
    const nocondstoreOptions = { messages: Number(args['nocondstore-messages']), flagChanges: 100, expunges: 10, freshDir };
    results['nocondstore'] = await timed('nocondstore', () => noCondstoreScenario(nocondstoreOptions));
  }
  if (only.has('sort')) results['sort'] = await timed('sort', () => sortScenario({ messages: Number(args['sort-messages']), largeFolderMessages: Number(args['sort-large-messages']), runs: RUNS, freshDir }));
  if (only.has('oauth')) results['oauth'] = await timed('oauth', () => oauthScenario({ minutes: oauthMinutes, freshDir }));
  if (only.has('dedupe')) results['dedupe'] = await timed('dedupe', () => dedupeScenario({ messages: Number(args['dedupe-messages']), freshDir }));
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(path.join(RESULTS_DIR, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(path.join(RESULTS_DIR, 'bench.md'), markdown());
  log(`\n${markdown()}`);
  const memory = results['memory'] as MemoryResults | undefined;
  const missed = memory?.checks.filter((c) => !c.met) ?? [];
  for (const c of missed) log(`TARGET MISSED: ${c.target}: ${c.value} (limit ${c.limit})`);
  if (memory && !missed.length) log('memory: every target met');
  log(`results in ${RESULTS_DIR}; the bench took ${((performance.now() - benchStart) / 1000).toFixed(0)} s`);
} finally {
  await rm(work, { recursive: true, force: true });
}
