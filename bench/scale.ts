// The scale scenario: one big folder (100,000 small messages by default) and the commands
// Thunderbird sends on a new profile, straight from Dovecot and through the proxy, cold (empty
// cache, --prefetch headers) and warm (a second client); SELECT on its own; the resync after
// 1,000 flag changes made upstream; one command at a time on one connection; the proxy's peak
// RssAnon, started through the bin and as `node dist/src/cli/main.js`. The client is a raw
// socket client in Python (client-sessions.py), timing on its side as a user would feel it.
import path from 'node:path';
import { startDovecot } from '../test/support/dovecot.js';
import { deliver } from '../test/support/maildir.js';
import { smallMessages } from '../test/support/small-messages.js';
import { waitForSync } from './memory.js';
import { startProxyProcess, type ProxyProcess } from './proxy-process.js';
import { log, median, round, run } from './util.js';

const CLIENT = path.resolve(import.meta.dirname, '../../bench/client-sessions.py');
/** Flags changed upstream before the resync is timed. */
const FLAG_CHANGES = 1000;
/** Rounds of those changes, each with a keyword of its own; the resync's figures are their medians. */
const RESYNC_ROUNDS = 3;
/** The background sync of a big folder is given up on after this long without progress. */
const STALL_SECONDS = 300;
/** Messages fetched one command at a time, per kind of command. */
const SINGLE_COMMANDS = 400;
/** New sessions that each SELECT the folder once, timed after the proxy has served a few. */
const SELECT_SESSIONS = 20;

interface Session {
  selectSeconds: number;
  fetchSeconds: number;
  totalSeconds: number;
  messages: number;
}

interface Latency {
  flagsMs: number;
  headerFieldMs: number;
  bodyMs: number;
}

export interface ScaleResults {
  messages: number;
  /** The Thunderbird-like session, whole (login, SELECT, UID FETCH 1:*), per run. */
  directSeconds: number[];
  coldSeconds: number[];
  warmSeconds: number[];
  coldRatio: number;
  warmRatio: number;
  /** SELECT alone, in the warm session and straight from Dovecot (medians). */
  selectSeconds: { direct: number; warm: number; ratio: number };
  /** SELECT in each of SELECT_SESSIONS new sessions, once the proxy has served a few (its code compiled): medians. */
  selectSteady: { sessions: number; direct: number; proxy: number; ratio: number };
  /** After FLAG_CHANGES flag changes upstream: the next SELECT and UID FETCH 1:* (FLAGS) (CHANGEDSINCE m), medians of RESYNC_ROUNDS. */
  flagResync: { changes: number; rounds: number; direct: { select: number; fetch: number }; proxy: { select: number; fetch: number }; selectRatio: number; fetchRatio: number; changedMessages: number };
  /** The same CHANGEDSINCE (the modseq before the first round) from a proxy started again: what the cache holds, no journal. */
  afterRestart: { direct: number; proxy: number; ratio: number };
  /** Median milliseconds per one-message command, warm. */
  latency: { commands: number; direct: Latency; proxy: Latency; ratios: Latency };
  /** Peak RssAnon of the proxy, MB: through the bin (cold and warm runs), and started as node main.js (a session, single commands, the resync). */
  peakRssAnonMb: { bin: number; node: number };
}

async function client(kind: string, port: number, ...rest: (string | number)[]): Promise<unknown> {
  const { stdout } = await run('python3', [CLIENT, kind, '127.0.0.1', String(port), ...rest.map(String)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

const session = async (port: number) => (await client('session', port)) as Session;

export async function scaleScenario(options: { messages: number; runs: number; freshDir: () => string }): Promise<ScaleResults> {
  const { messages, runs, freshDir } = options;
  log(`\n== scale: one folder of ${messages} small messages, a Thunderbird-like session straight from Dovecot and through the proxy`);
  const dovecot = await startDovecot();
  try {
    const loadStart = performance.now();
    await deliver(dovecot.mailDir(), smallMessages('INBOX', messages));
    await session(dovecot.port); // Dovecot builds its index here, not in a timed run
    log(`  corpus delivered and indexed in ${((performance.now() - loadStart) / 1000).toFixed(0)} s`);

    const direct: Session[] = [];
    const cold: Session[] = [];
    const warm: Session[] = [];
    let binPeak = 0;
    let data = '';
    for (let i = 1; i <= runs; i++) {
      direct.push(await session(dovecot.port));
      data = freshDir();
      const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'headers']);
      try {
        cold.push(await session(proxy.port));
        // warm: everything cached, the background sync (ENVELOPE, BODYSTRUCTURE, headers) finished
        await waitForSync(proxy, data, STALL_SECONDS);
        warm.push(await session(proxy.port));
        binPeak = Math.max(binPeak, proxy.peakRssAnonMb());
      } finally {
        await proxy.stop();
      }
      for (const [name, s] of [['direct', direct], ['cold', cold], ['warm', warm]] as const) {
        const last = s[s.length - 1] as Session;
        if (last.messages !== messages) throw new Error(`${name} session #${i}: ${last.messages} FETCH responses, expected ${messages}`);
      }
      log(`  run #${i}: direct ${direct[i - 1]?.totalSeconds.toFixed(2)} s, proxy cold ${cold[i - 1]?.totalSeconds.toFixed(2)} s, warm ${warm[i - 1]?.totalSeconds.toFixed(2)} s`);
    }

    // the last run's cache, served by a proxy started as service managers and containers do
    const proxy: ProxyProcess = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'headers'], { launch: 'node' });
    try {
      // (not among the warm runs: the first session after a start also pays for loading code and the cache's first reads)
      await session(proxy.port);
      const latencyDirect = (await client('latency', dovecot.port, SINGLE_COMMANDS)) as Latency;
      const latencyProxy = (await client('latency', proxy.port, SINGLE_COMMANDS)) as Latency;
      log(`  one command at a time (ms): direct ${JSON.stringify(latencyDirect)}, proxy ${JSON.stringify(latencyProxy)}`);
      const steadyDirect = ((await client('selects', dovecot.port, SELECT_SESSIONS)) as { selectSeconds: number }).selectSeconds;
      const steadyProxy = ((await client('selects', proxy.port, SELECT_SESSIONS)) as { selectSeconds: number }).selectSeconds;
      log(`  SELECT in ${SELECT_SESSIONS} new sessions (median): direct ${(steadyDirect * 1000).toFixed(2)} ms, proxy ${(steadyProxy * 1000).toFixed(2)} ms`);

      const rounds: { proxy: Session; direct: Session }[] = [];
      let firstModseq = 0;
      for (let i = 1; i <= RESYNC_ROUNDS; i++) {
        const { highestModseqBefore } = (await client('store', dovecot.port, `1:${FLAG_CHANGES}`, `$Resync${i}`)) as { highestModseqBefore: number };
        firstModseq ||= highestModseqBefore;
        const proxied = (await client('changed', proxy.port, highestModseqBefore)) as Session;
        const direct = (await client('changed', dovecot.port, highestModseqBefore)) as Session;
        if (proxied.messages !== FLAG_CHANGES || direct.messages !== FLAG_CHANGES) {
          throw new Error(`CHANGEDSINCE after ${FLAG_CHANGES} flag changes: ${direct.messages} direct, ${proxied.messages} through the proxy`);
        }
        log(`  after ${FLAG_CHANGES} flag changes upstream: direct SELECT ${direct.selectSeconds.toFixed(4)} s + CHANGEDSINCE ${direct.fetchSeconds.toFixed(4)} s, proxy ${proxied.selectSeconds.toFixed(4)} s + ${proxied.fetchSeconds.toFixed(4)} s`);
        rounds.push({ proxy: proxied, direct });
      }
      const resync = (side: 'proxy' | 'direct') => ({
        select: median(rounds.map((r) => r[side].selectSeconds)),
        fetch: median(rounds.map((r) => r[side].fetchSeconds)),
      });
      const resyncProxy = resync('proxy');
      const resyncDirect = resync('direct');
      await proxy.stop();
      let nodePeak = proxy.peakRssAnonMb();

      // a client that was last here before the proxy stopped: its modseq is older than anything the new process saw
      const restarted = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'headers'], { launch: 'node' });
      let afterRestart: ScaleResults['afterRestart'];
      try {
        const proxied = (await client('changed', restarted.port, firstModseq)) as Session;
        const direct = (await client('changed', dovecot.port, firstModseq)) as Session;
        if (proxied.messages !== direct.messages) throw new Error(`CHANGEDSINCE after a restart: ${direct.messages} direct, ${proxied.messages} through the proxy`);
        log(`  after a restart, CHANGEDSINCE ${firstModseq}: direct ${direct.fetchSeconds.toFixed(4)} s, proxy ${proxied.fetchSeconds.toFixed(4)} s (${proxied.messages} messages)`);
        afterRestart = { direct: round(direct.fetchSeconds, 4), proxy: round(proxied.fetchSeconds, 4), ratio: round(proxied.fetchSeconds / direct.fetchSeconds) };
        nodePeak = Math.max(nodePeak, restarted.peakRssAnonMb());
      } finally {
        await restarted.stop();
      }

      const d = median(direct.map((s) => s.totalSeconds));
      const selectDirect = median(direct.map((s) => s.selectSeconds));
      const selectWarm = median(warm.map((s) => s.selectSeconds));
      const ratio = (a: number, b: number) => round(a / b);
      return {
        messages,
        directSeconds: direct.map((s) => round(s.totalSeconds)),
        coldSeconds: cold.map((s) => round(s.totalSeconds)),
        warmSeconds: warm.map((s) => round(s.totalSeconds)),
        coldRatio: ratio(median(cold.map((s) => s.totalSeconds)), d),
        warmRatio: ratio(median(warm.map((s) => s.totalSeconds)), d),
        selectSeconds: { direct: round(selectDirect, 4), warm: round(selectWarm, 4), ratio: ratio(selectWarm, selectDirect) },
        selectSteady: { sessions: SELECT_SESSIONS, direct: round(steadyDirect, 5), proxy: round(steadyProxy, 5), ratio: ratio(steadyProxy, steadyDirect) },
        flagResync: {
          changes: FLAG_CHANGES,
          rounds: RESYNC_ROUNDS,
          direct: { select: round(resyncDirect.select, 4), fetch: round(resyncDirect.fetch, 4) },
          proxy: { select: round(resyncProxy.select, 4), fetch: round(resyncProxy.fetch, 4) },
          selectRatio: ratio(resyncProxy.select, resyncDirect.select),
          fetchRatio: ratio(resyncProxy.fetch, resyncDirect.fetch),
          changedMessages: FLAG_CHANGES,
        },
        afterRestart,
        latency: {
          commands: SINGLE_COMMANDS,
          direct: roundLatency(latencyDirect, 3),
          proxy: roundLatency(latencyProxy, 3),
          ratios: {
            flagsMs: ratio(latencyProxy.flagsMs, latencyDirect.flagsMs),
            headerFieldMs: ratio(latencyProxy.headerFieldMs, latencyDirect.headerFieldMs),
            bodyMs: ratio(latencyProxy.bodyMs, latencyDirect.bodyMs),
          },
        },
        peakRssAnonMb: { bin: round(binPeak, 1), node: round(nodePeak, 1) },
      };
    } finally {
      await proxy.stop();
    }
  } finally {
    await dovecot.destroy();
  }
}

function roundLatency(latency: Latency, digits: number): Latency {
  return { flagsMs: round(latency.flagsMs, digits), headerFieldMs: round(latency.headerFieldMs, digits), bodyMs: round(latency.bodyMs, digits) };
}

export function scaleMarkdown(r: ScaleResults): string[] {
  const { latency, flagResync, afterRestart } = r;
  return [
    `## Scale: one folder of ${r.messages} small messages (medians)`,
    '',
    'The session Thunderbird starts a new profile with: LOGIN, SELECT INBOX, `UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID References In-Reply-To Content-Type)])`; cold: a proxy with an empty cache and `--prefetch headers`; warm: a second client.',
    '',
    '| | direct | proxy cold | ratio | proxy warm | ratio |',
    '| --- | --- | --- | --- | --- | --- |',
    `| the session (s) | ${round(median(r.directSeconds))} | ${round(median(r.coldSeconds))} | ${r.coldRatio}x | ${round(median(r.warmSeconds))} | ${r.warmRatio}x |`,
    `| SELECT (ms) | ${round(r.selectSeconds.direct * 1000, 1)} | | | ${round(r.selectSeconds.warm * 1000, 1)} | ${r.selectSeconds.ratio}x |`,
    `| SELECT in a new session, median of ${r.selectSteady.sessions} in a row, the proxy past its first sessions (ms) | ${round(r.selectSteady.direct * 1000, 2)} | | | ${round(r.selectSteady.proxy * 1000, 2)} | ${r.selectSteady.ratio}x |`,
    `| after ${flagResync.changes} flag changes upstream (median of ${flagResync.rounds} rounds): SELECT (ms) | ${round(flagResync.direct.select * 1000, 1)} | | | ${round(flagResync.proxy.select * 1000, 1)} | ${flagResync.selectRatio}x |`,
    `| then \`UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)\` (ms) | ${round(flagResync.direct.fetch * 1000, 1)} | | | ${round(flagResync.proxy.fetch * 1000, 1)} | ${flagResync.fetchRatio}x |`,
    `| the same from before the first round, the proxy started again (ms) | ${round(afterRestart.direct * 1000, 1)} | | | ${round(afterRestart.proxy * 1000, 1)} | ${afterRestart.ratio}x |`,
    `| one command at a time: \`UID FETCH n (FLAGS)\` (ms) | ${latency.direct.flagsMs} | | | ${latency.proxy.flagsMs} | ${latency.ratios.flagsMs}x |`,
    `| \`UID FETCH n BODY.PEEK[HEADER.FIELDS (SUBJECT)]\` (ms) | ${latency.direct.headerFieldMs} | | | ${latency.proxy.headerFieldMs} | ${latency.ratios.headerFieldMs}x |`,
    `| \`UID FETCH n BODY.PEEK[]\` (ms) | ${latency.direct.bodyMs} | | | ${latency.proxy.bodyMs} | ${latency.ratios.bodyMs}x |`,
    '',
    `Peak RssAnon of the proxy: ${r.peakRssAnonMb.bin} MB through the bin (cold and warm runs), ${r.peakRssAnonMb.node} MB started as \`node dist/src/cli/main.js start\` (a warm session, single commands, the resync).`,
  ];
}
