// The memory scenario: the proxy's background sync (--prefetch all) fills an empty cache from a
// Dovecot, then serves a full mbsync pull from it, while its RssAnon is sampled. Compared with
// direct mbsync pulls of the same mailbox; a single huge message too.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { adminRequest } from '../src/admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type StatusResult } from '../src/admin/protocol.js';
import { bigMessage, corpusFolders, generateCorpus, type CorpusMessage } from '../test/support/corpus.js';
import { startDovecot, type Dovecot } from '../test/support/dovecot.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { RawImapClient } from '../test/support/raw-client.js';
import { CLI, startProxyProcess } from './proxy-process.js';
import { rssChartSvg } from './rss-chart.js';
import { diskUsageMb, log, median, round, run } from './util.js';

/** The issue's targets. */
export const TARGETS = {
  /** Peak RssAnon of the proxy while it prefetches and serves the largest corpus. */
  peakMb: 128,
  /** Peak at the largest corpus over the peak at the smallest. */
  peakGrowth: 1.2,
  /** Prefetch time over a direct mbsync pull of the same mailbox. */
  prefetchRatio: 1.2,
};
/** How often the bench asks the proxy's admin socket for the background sync's progress, and
 * prints it: `status` counts what is cached from the cache itself, which the proxy should not do
 * every second while it is measured (the end of the sync is noticed by its log line). */
const POLL_MS = 15_000;
/** The proxy idles this long after its start before the login, so the chart shows its baseline. */
const BASELINE_MS = 1000;

export interface MemoryOptions {
  /** Corpus sizes (messages), e.g. [1000, 10000]. */
  sizes: number[];
  runs: number;
  /** Attachment size of the single huge message (bigMessage's sizeMb); 0 skips that part. */
  bigMessageMb: number;
  /** Small messages beside the huge one. */
  smallMessages: number;
  /** The background sync counts as stuck after this long without progress. */
  stallSeconds: number;
  freshDir: () => string;
  resultsDir: string;
}

interface Expected {
  digests: Record<string, string[]>;
  /** Messages in the mailbox (mbsync does not store every one: the corpus's header-only message is missing from its copies). */
  delivered: number;
}

/** One proxy from an empty cache: background sync until done, then a full mbsync pull from the cache. */
export interface PrefetchRun {
  prefetchSeconds: number;
  serveSeconds: number;
  peakRssAnonMb: number;
  /** Peak RssAnon per phase: from start to the login, during the background sync, during the pull. */
  phasePeaksMb: { startup: number; prefetch: number; serve: number };
  /** RssAnon right before the pull (what the finished sync left behind). */
  afterPrefetchMb: number;
  cacheMb: number;
  identical: boolean;
  mismatch?: string;
  /** How the end of the sync was noticed: its log line, or the admin socket's status. */
  detectedBy: 'log' | 'status';
  /** Times the sync was interrupted and waited to retry (each costs time). */
  interruptions: number;
  /** What `imap-cache-proxy status --json` reported right after the sync. */
  status: { state: string; bodies: number; messages: number; bodyBytes: number; rssAnonMb: number };
  /** Dovecot's fetch_body_count for the proxy's sessions over the whole run (sync and pull; each partial fetch of a big body counts). */
  upstreamBodyFetches: number | null;
  timeline: [number, number][];
  marks: { login: number; prefetchDone: number; serveStart: number; serveEnd: number };
}

export interface CorpusResult {
  messages: number;
  bigMessages: number;
  corpusMb: number;
  directSeconds: number[];
  prefetchSeconds: number[];
  serveSeconds: number[];
  prefetchRatio: number;
  serveRatio: number;
  peakRssAnonMb: number;
  peaksMb: number[];
  phasePeaksMb: PrefetchRun['phasePeaksMb'];
  afterPrefetchMb: number;
  cacheMb: number;
  identical: boolean;
  interruptions: number;
  upstreamBodyFetches: (number | null)[];
}

export interface BigMessageResult {
  sizeMb: number;
  messageMb: number;
  smallMessages: number;
  directSeconds: number;
  prefetchSeconds: number[];
  serveSeconds: number[];
  peakRssAnonMb: number;
  peaksMb: number[];
  phasePeaksMb: PrefetchRun['phasePeaksMb'];
  identical: boolean;
}

export interface Check {
  target: string;
  value: number | string;
  limit: number | string;
  met: boolean;
}

export interface MemoryResults {
  targets: typeof TARGETS;
  corpora: CorpusResult[];
  bigMessage?: BigMessageResult;
  peakGrowth?: number;
  /** SVG files in the results directory: RssAnon over time, largest corpus and huge message. */
  chart?: string;
  bigMessageChart?: string;
  checks: Check[];
}

export async function memoryScenario(opts: MemoryOptions): Promise<MemoryResults> {
  const corpora: CorpusResult[] = [];
  let largestRun: PrefetchRun | undefined;
  for (const messages of opts.sizes) {
    const start = performance.now();
    const { result, worst } = await corpusRuns(messages, opts);
    log(`  (${messages} messages took ${((performance.now() - start) / 1000).toFixed(0)} s)`);
    corpora.push(result);
    largestRun = worst;
  }
  const start = performance.now();
  const big = opts.bigMessageMb > 0 ? await bigMessageRuns(opts) : undefined;
  if (big) log(`  (the ${big.result.messageMb} MB message took ${((performance.now() - start) / 1000).toFixed(0)} s)`);
  const smallest = corpora[0];
  const largest = corpora[corpora.length - 1];
  const results: MemoryResults = { targets: TARGETS, corpora, checks: [] };
  if (smallest && largest && corpora.length > 1) results.peakGrowth = round(largest.peakRssAnonMb / smallest.peakRssAnonMb);
  if (largest && largestRun) {
    results.chart = `rss-${largest.messages}.svg`;
    const title = `${largest.messages.toLocaleString('en')} messages (${(largest.corpusMb / 1000).toFixed(2)} GB, ${largest.bigMessages} with 5 MB attachments)`;
    await writeFile(path.join(opts.resultsDir, results.chart), chart(title, largest.prefetchRatio, largestRun, corpora.length > 1 ? smallest : undefined));
  }
  if (big) {
    results.bigMessage = big.result;
    results.bigMessageChart = `rss-message-${big.result.messageMb}mb.svg`;
    const title = `one ${big.result.messageMb} MB message (${big.result.sizeMb} MB attachment) and ${big.result.smallMessages} small ones`;
    const ratio = round(big.worst.prefetchSeconds / big.result.directSeconds);
    await writeFile(path.join(opts.resultsDir, results.bigMessageChart), chart(title, ratio, big.worst, smallest));
  }
  results.checks = checks(results);
  return results;
}

async function corpusRuns(messages: number, opts: MemoryOptions): Promise<{ result: CorpusResult; worst: PrefetchRun }> {
  log(`\n== memory: ${messages} messages, background sync into an empty cache, then an mbsync pull from it`);
  const dovecot = await startDovecot();
  try {
    for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
    let bigMessages = 0;
    const counted = function* (source: Iterable<CorpusMessage>) {
      for (const m of source) {
        if (m.kind === 'big') bigMessages++;
        yield m;
      }
    };
    const writing = performance.now();
    const loaded = await deliver(dovecot.mailDir(), counted(generateCorpus({ seed: 42, messages, bigFraction: 0.02, bigSizeMb: 5 })));
    log(`corpus: ${loaded.messages} messages (${bigMessages} with 5 MB attachments), ${(loaded.bytes / 1e6).toFixed(0)} MB, written in ${((performance.now() - writing) / 1000).toFixed(1)} s`);
    const { expected, seconds: warmUp } = await referencePull(dovecot, loaded.messages, opts);
    log(`  warm-up pull (the reference): ${warmUp.toFixed(2)} s`);
    const direct: number[] = [];
    for (let i = 1; i <= opts.runs; i++) {
      const dir = opts.freshDir();
      direct.push(await mbsyncPull(dovecot.port, dir));
      await rm(dir, { recursive: true, force: true });
      log(`  direct #${i}: ${direct[i - 1]?.toFixed(2)} s`);
    }
    const runs: PrefetchRun[] = [];
    for (let i = 1; i <= opts.runs; i++) runs.push(await prefetchRun(dovecot, expected, `proxy #${i}`, opts));
    const worst = runs.reduce((a, b) => (b.peakRssAnonMb > a.peakRssAnonMb ? b : a));
    const d = median(direct);
    const prefetchSeconds = runs.map((r) => r.prefetchSeconds);
    const serveSeconds = runs.map((r) => r.serveSeconds);
    return {
      worst,
      result: {
        messages: loaded.messages,
        bigMessages,
        corpusMb: round(loaded.bytes / 1e6, 0),
        directSeconds: direct.map((x) => round(x)),
        prefetchSeconds: prefetchSeconds.map((x) => round(x)),
        serveSeconds: serveSeconds.map((x) => round(x)),
        prefetchRatio: round(median(prefetchSeconds) / d),
        serveRatio: round(median(serveSeconds) / d),
        peakRssAnonMb: round(worst.peakRssAnonMb, 1),
        peaksMb: runs.map((r) => round(r.peakRssAnonMb, 1)),
        phasePeaksMb: roundAll(worst.phasePeaksMb),
        afterPrefetchMb: round(worst.afterPrefetchMb, 1),
        cacheMb: round(median(runs.map((r) => r.cacheMb)), 0),
        identical: runs.every((r) => r.identical),
        interruptions: runs.reduce((n, r) => n + r.interruptions, 0),
        upstreamBodyFetches: runs.map((r) => r.upstreamBodyFetches),
      },
    };
  } finally {
    await dovecot.destroy();
  }
}

async function bigMessageRuns(opts: MemoryOptions): Promise<{ result: BigMessageResult; worst: PrefetchRun }> {
  log(`\n== memory: one message with a ${opts.bigMessageMb} MB attachment among ${opts.smallMessages} small ones`);
  const dovecot = await startDovecot();
  try {
    for (const folder of corpusFolders()) await createFolder(dovecot.mailDir(), folder);
    const small = await deliver(dovecot.mailDir(), generateCorpus({ seed: 42, messages: opts.smallMessages, bigFraction: 0 }));
    const big = bigMessage({ sizeMb: opts.bigMessageMb });
    await deliver(dovecot.mailDir(), [big]);
    log(`corpus: ${small.messages} small messages (${(small.bytes / 1e6).toFixed(1)} MB) and one of ${(big.size / 1e6).toFixed(0)} MB in INBOX`);
    const { expected, seconds: direct } = await referencePull(dovecot, small.messages + 1, opts);
    log(`  direct pull (the reference): ${direct.toFixed(2)} s`);
    const runs: PrefetchRun[] = [];
    for (let i = 1; i <= opts.runs; i++) runs.push(await prefetchRun(dovecot, expected, `proxy #${i}`, opts));
    const worst = runs.reduce((a, b) => (b.peakRssAnonMb > a.peakRssAnonMb ? b : a));
    const result: BigMessageResult = {
      sizeMb: opts.bigMessageMb,
      messageMb: round(big.size / 1e6, 0),
      smallMessages: small.messages,
      directSeconds: round(direct),
      prefetchSeconds: runs.map((r) => round(r.prefetchSeconds)),
      serveSeconds: runs.map((r) => round(r.serveSeconds)),
      peakRssAnonMb: round(worst.peakRssAnonMb, 1),
      peaksMb: runs.map((r) => round(r.peakRssAnonMb, 1)),
      phasePeaksMb: roundAll(worst.phasePeaksMb),
      identical: runs.every((r) => r.identical),
    };
    return { result, worst };
  } finally {
    await dovecot.destroy();
  }
}

/** A first direct pull: what every pull must equal; it also warms the page cache for both sides. */
async function referencePull(dovecot: Dovecot, delivered: number, opts: MemoryOptions): Promise<{ expected: Expected; seconds: number }> {
  const dir = opts.freshDir();
  const seconds = await mbsyncPull(dovecot.port, dir);
  const digests = await maildirDigests(dir);
  await rm(dir, { recursive: true, force: true });
  return { expected: { digests, delivered }, seconds };
}

async function prefetchRun(dovecot: Dovecot, expected: Expected, label: string, opts: MemoryOptions): Promise<PrefetchRun> {
  await dovecot.waitSessionsClosed().catch(() => undefined);
  const bodiesBefore = await dovecot.bodyCount();
  const data = opts.freshDir();
  const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'all', '--log-level', 'info']);
  let stopped = false;
  try {
    // a login starts the background sync; the client leaves right away
    const done = waitForSync(proxy, data, opts.stallSeconds);
    done.catch(() => undefined); // awaited below; a failure meanwhile must not go unhandled
    await new Promise((r) => setTimeout(r, BASELINE_MS));
    const login = proxy.elapsed();
    const client = await RawImapClient.connect(proxy.port);
    await client.login();
    await client.command('LOGOUT');
    client.close();
    const sync = await done;
    const prefetchSeconds = sync.at - login;
    const status = await cliStatus(data);
    log(`  ${label}: background sync ${prefetchSeconds.toFixed(2)} s (${status.bodies}/${status.messages} bodies cached, ${(status.bodyBytes / 1e6).toFixed(0)} MB; RssAnon now ${status.rssAnonMb} MB)`);
    if (sync.via === 'status') log(`  note: no "background sync complete" log line; the end was noticed by polling the admin socket (up to ${POLL_MS} ms late)`);
    if (status.bodies !== status.messages || status.messages !== expected.delivered) {
      log(`  WARNING: status reports ${status.bodies}/${status.messages} bodies cached, the mailbox has ${expected.delivered} messages`);
    }

    const dir = opts.freshDir();
    const serveStart = proxy.elapsed();
    const serveSeconds = await mbsyncPull(proxy.port, dir);
    const serveEnd = proxy.elapsed();
    await new Promise((r) => setTimeout(r, 250)); // a last sample or two
    const peak = proxy.peakRssAnonMb();
    const timeline = [...proxy.timeline];
    await proxy.stop();
    stopped = true;
    const got = await maildirDigests(dir);
    await rm(dir, { recursive: true, force: true });
    const mismatch = compare(expected.digests, got);
    const cacheMb = await diskUsageMb(data);
    await rm(data, { recursive: true, force: true });
    let upstreamBodyFetches: number | null = null;
    try {
      await dovecot.waitSessionsClosed();
      upstreamBodyFetches = (await dovecot.bodyCount()) - bodiesBefore;
    } catch {
      // Dovecot has not logged every logout yet: unknown
    }
    const within = (from: number, to: number) => Math.max(0, ...timeline.filter(([t]) => t >= from && t <= to).map(([, mb]) => mb));
    const before = timeline.filter(([t]) => t <= serveStart);
    const run: PrefetchRun = {
      prefetchSeconds,
      serveSeconds,
      peakRssAnonMb: peak,
      phasePeaksMb: { startup: within(0, login), prefetch: within(login, sync.at), serve: within(serveStart, serveEnd) },
      afterPrefetchMb: before[before.length - 1]?.[1] ?? 0,
      cacheMb,
      identical: mismatch === undefined,
      ...(mismatch ? { mismatch } : {}),
      detectedBy: sync.via,
      interruptions: sync.interruptions,
      status,
      upstreamBodyFetches,
      timeline,
      marks: { login, prefetchDone: sync.at, serveStart, serveEnd },
    };
    log(
      `  ${label}: pull from the cache ${serveSeconds.toFixed(2)} s, ${mismatch ? `DIFFERS from the direct pull: ${mismatch}` : 'identical'}; ` +
        `peak RssAnon ${peak.toFixed(1)} MB (start ${run.phasePeaksMb.startup.toFixed(1)}, sync ${run.phasePeaksMb.prefetch.toFixed(1)}, pull ${run.phasePeaksMb.serve.toFixed(1)}); cache ${cacheMb.toFixed(0)} MB on disk`,
    );
    return run;
  } finally {
    if (!stopped) await proxy.stop();
    await rm(data, { recursive: true, force: true });
  }
}

/**
 * Resolves when the background sync is done: on the proxy's "background sync complete" log line,
 * or when its admin socket says so. Fails when the proxy exits or the sync makes no progress for
 * `stallSeconds`. Prints its progress now and then.
 */
export function waitForSync(
  proxy: Awaited<ReturnType<typeof startProxyProcess>>,
  data: string,
  stallSeconds: number,
): Promise<{ at: number; via: 'log' | 'status'; interruptions: number }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let interruptions = 0;
    const finish = (outcome: { at: number; via: 'log' | 'status' } | Error) => {
      if (settled) return;
      settled = true;
      stopListening();
      if (outcome instanceof Error) reject(outcome);
      else resolve({ ...outcome, interruptions });
    };
    const stopListening = proxy.onLine((line) => {
      if (line.includes('"background sync complete"')) finish({ at: proxy.elapsed(), via: 'log' });
    });
    void proxy.exited.then((code) => finish(new Error(`the proxy exited (${code}) during the background sync; its output ends with:\n${proxy.output().slice(-4000)}`)));
    void (async () => {
      let last = '';
      let lastChange = performance.now();
      let waiting = false;
      while (!settled) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (settled) return;
        const response = await adminRequest<StatusResult>(path.join(data, ADMIN_SOCKET_NAME), { command: 'status' }).catch(() => undefined);
        if (settled) return;
        const account = response?.ok ? response.result.accounts[0] : undefined;
        const p = account?.prefetch;
        const cached = account?.cached;
        if (p?.state === 'done') return finish({ at: proxy.elapsed(), via: 'status' });
        const now = performance.now();
        const key = p && cached ? `${p.state} ${cached.bodies} ${cached.otherBytes}` : 'no status';
        if (key !== last) {
          last = key;
          lastChange = now;
        } else if (now - lastChange > stallSeconds * 1000) {
          return finish(new Error(`the background sync made no progress for ${stallSeconds} s (${key}); the proxy's output ends with:\n${proxy.output().slice(-4000)}`));
        }
        if (p?.state === 'waiting' && !waiting) {
          interruptions++;
          log(`  WARNING: the background sync was interrupted and waits to retry (this run's time includes the wait); see the proxy's log`);
        }
        waiting = p?.state === 'waiting';
        if (p && cached) {
          log(
            `    ${proxy.elapsed().toFixed(0)} s: ${p.state}, ${cached.bodies}/${cached.messages} bodies cached, ` +
              `${(cached.bodyBytes / 1e6).toFixed(0)}/${(cached.totalBytes / 1e6).toFixed(0)} MB, RssAnon ${proxy.timeline[proxy.timeline.length - 1]?.[1].toFixed(0)} MB`,
          );
        }
      }
    })();
  });
}

/** `imap-cache-proxy status --data DIR --json`, the CLI as installed: the sync must say done. */
async function cliStatus(data: string): Promise<PrefetchRun['status']> {
  const { stdout } = await run(CLI, ['status', '--data', data, '--json']);
  const status = JSON.parse(stdout) as { running: boolean } & Partial<StatusResult>;
  const account = status.accounts?.[0];
  const p = account?.prefetch;
  if (!status.running || !account || !p || p.state !== 'done') throw new Error(`imap-cache-proxy status does not report a finished background sync: ${stdout}`);
  const { bodies, messages, bodyBytes } = account.cached;
  return { state: p.state, bodies, messages, bodyBytes, rssAnonMb: status.rssAnonMb ?? NaN };
}

function compare(expected: Record<string, string[]>, got: Record<string, string[]>): string | undefined {
  const differ: string[] = [];
  for (const folder of new Set([...Object.keys(expected), ...Object.keys(got)])) {
    const e = expected[folder] ?? [];
    const g = got[folder] ?? [];
    if (JSON.stringify(e) === JSON.stringify(g)) continue;
    const gs = new Set(g);
    const es = new Set(e);
    differ.push(`${folder}: ${e.filter((x) => !gs.has(x)).length} missing, ${g.filter((x) => !es.has(x)).length} unexpected of ${e.length}`);
  }
  return differ.length ? differ.join('; ') : undefined;
}

const roundAll = (peaks: PrefetchRun['phasePeaksMb']) => ({
  startup: round(peaks.startup, 1),
  prefetch: round(peaks.prefetch, 1),
  serve: round(peaks.serve, 1),
});

function checks(r: MemoryResults): Check[] {
  const out: Check[] = [];
  const smallest = r.corpora[0];
  const largest = r.corpora[r.corpora.length - 1];
  if (largest) {
    out.push({
      target: `peak RssAnon, ${largest.messages} messages (sync + pull) < ${TARGETS.peakMb} MB`,
      value: largest.peakRssAnonMb,
      limit: TARGETS.peakMb,
      met: largest.peakRssAnonMb < TARGETS.peakMb,
    });
  }
  if (smallest && largest && r.peakGrowth !== undefined) {
    out.push({
      target: `peak RssAnon, ${largest.messages} / ${smallest.messages} messages <= ${TARGETS.peakGrowth}x`,
      value: r.peakGrowth,
      limit: TARGETS.peakGrowth,
      met: r.peakGrowth <= TARGETS.peakGrowth,
    });
  }
  if (largest) {
    out.push({
      target: `background sync of ${largest.messages} messages <= ${TARGETS.prefetchRatio}x a direct mbsync pull`,
      value: largest.prefetchRatio,
      limit: TARGETS.prefetchRatio,
      met: largest.prefetchRatio <= TARGETS.prefetchRatio,
    });
  }
  const big = r.bigMessage;
  if (big) {
    out.push({
      target: `peak RssAnon with one ${big.messageMb} MB message < ${TARGETS.peakMb} MB`,
      value: big.peakRssAnonMb,
      limit: TARGETS.peakMb,
      met: big.peakRssAnonMb < TARGETS.peakMb,
    });
    if (smallest) {
      const growth = round(big.peakRssAnonMb / smallest.peakRssAnonMb);
      out.push({
        target: `same peak: one ${big.messageMb} MB message / ${smallest.messages} messages <= ${TARGETS.peakGrowth}x`,
        value: growth,
        limit: TARGETS.peakGrowth,
        met: growth <= TARGETS.peakGrowth,
      });
    }
  }
  const all = [...r.corpora.map((c) => c.identical), ...(big ? [big.identical] : [])];
  out.push({
    target: 'every pull through the proxy identical to the direct pull',
    value: all.every(Boolean) ? 'yes' : 'no',
    limit: 'yes',
    met: all.every(Boolean),
  });
  return out;
}

function chart(title: string, prefetchRatio: number, runData: PrefetchRun, smallest: CorpusResult | undefined): string {
  const lines = [{ mb: TARGETS.peakMb, label: `target: ${TARGETS.peakMb} MB`, stroke: '#c0392b' }];
  if (smallest) {
    const limit = smallest.peakRssAnonMb * TARGETS.peakGrowth;
    lines.push({ mb: limit, label: `${TARGETS.peakGrowth} x peak at ${smallest.messages} messages: ${limit.toFixed(0)} MB`, stroke: '#d68910' });
  }
  const m = runData.marks;
  return rssChartSvg({
    title: `imap-cache-proxy RssAnon, ${title}`,
    subtitle: [
      `background sync (--prefetch all) into an empty cache: ${runData.prefetchSeconds.toFixed(1)} s (${prefetchRatio}x a direct mbsync pull); then an mbsync pull from the cache: ${runData.serveSeconds.toFixed(1)} s`,
      `peak RssAnon ${runData.peakRssAnonMb.toFixed(1)} MB; sampled from /proc/PID/status every 100 ms`,
    ],
    timeline: runData.timeline,
    phases: [
      { name: 'background sync (prefetch)', from: m.login, to: m.prefetchDone, fill: '#e8f0fb' },
      { name: 'mbsync pull (serve)', from: m.serveStart, to: m.serveEnd, fill: '#e9f7ec' },
    ],
    lines,
  });
}
