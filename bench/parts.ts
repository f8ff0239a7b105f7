// The part sections scenario: one message with a large attachment, its raw body cached. A new
// proxy process then indexes its parts on the first part fetch (one scan of the cached body):
// peak RssAnon during that fetch over the proxy's idle level, and part fetches timed against
// Dovecot's, with the count of sections the proxy still read upstream (0 is the point).
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADMIN_SOCKET_NAME, type StatusResult } from '../src/admin/protocol.js';
import { adminRequest } from '../src/admin/admin-client.js';
import { bigMessage } from '../test/support/corpus.js';
import { startDovecot } from '../test/support/dovecot.js';
import { deliver } from '../test/support/maildir.js';
import { RawImapClient } from '../test/support/raw-client.js';
import { startProxyProcess, type ProxyProcess } from './proxy-process.js';
import { log, median, round } from './util.js';

export const TARGETS = {
  /** Peak RssAnon while indexing, over the idle level before it. */
  indexingOverIdleMb: 5,
};

/** What a client opening the message part by part asks for. */
const PART_FETCH = 'UID FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2.MIME] BODY.PEEK[2]<0.2048>)';

export interface PartsResults {
  messageMb: number;
  /** Per run: idle RssAnon, peak during the indexing fetch, and the difference. */
  idleMb: number[];
  indexingPeakMb: number[];
  overIdleMb: number[];
  /** The first part fetch (the scan included), later ones, and Dovecot's, in ms. */
  indexingFetchMs: number[];
  indexedFetchMs: number;
  directFetchMs: number;
  /** Part sections the proxy read upstream after the body was cached. */
  upstreamParts: number;
}

async function login(port: number): Promise<RawImapClient> {
  const client = await RawImapClient.connect(port);
  await client.login();
  const selected = await client.command('EXAMINE INBOX');
  if (!/OK/.test(selected.tagged)) throw new Error(`EXAMINE: ${selected.tagged}`);
  return client;
}

async function timedFetch(client: RawImapClient, command = PART_FETCH): Promise<number> {
  const start = performance.now();
  const answer = await client.command(command);
  if (!/OK/.test(answer.tagged)) throw new Error(`${command}: ${answer.tagged}`);
  return performance.now() - start;
}

/** RssAnon of an idle proxy: the highest sample over a second. */
async function idleMb(proxy: ProxyProcess): Promise<number> {
  proxy.resetPeak();
  await sleep(1000);
  return proxy.peakRssAnonMb();
}

export async function partsScenario(opts: { messageMb: number; runs: number; freshDir: () => string }): Promise<PartsResults> {
  log(`\n== parts: a message with a ${opts.messageMb} MB attachment, sections cut from its cached body`);
  const dovecot = await startDovecot();
  try {
    const message = bigMessage({ sizeMb: opts.messageMb });
    await deliver(dovecot.mailDir(), [message]);
    const direct = await login(dovecot.port);
    const directTimes: number[] = [];
    for (let i = 0; i < 5; i++) directTimes.push(await timedFetch(direct));
    const directFetchMs = median(directTimes);
    direct.close();
    const result: PartsResults = {
      messageMb: round(message.size / 1e6, 1),
      idleMb: [],
      indexingPeakMb: [],
      overIdleMb: [],
      indexingFetchMs: [],
      indexedFetchMs: 0,
      directFetchMs: round(directFetchMs, 1),
      upstreamParts: 0,
    };
    const indexed: number[] = [];
    for (let run = 0; run < opts.runs; run++) {
      const data = opts.freshDir();
      const args = ['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'off'];
      // the first process caches the raw body (and the BODYSTRUCTURE a client fetches first)
      const filler = await startProxyProcess(args);
      const first = await login(filler.port);
      await timedFetch(first, 'UID FETCH 1 (BODYSTRUCTURE BODY.PEEK[])');
      first.close();
      await filler.stop();
      // a fresh process: its idle level, then the fetch that indexes the cached body
      const proxy = await startProxyProcess(args, { sampleMs: 5 });
      try {
        const client = await login(proxy.port);
        const idle = await idleMb(proxy);
        proxy.resetPeak();
        result.indexingFetchMs.push(round(await timedFetch(client), 1));
        await sleep(300);
        const peak = proxy.peakRssAnonMb();
        for (let i = 0; i < 5; i++) indexed.push(await timedFetch(client));
        const status = await adminRequest<StatusResult>(path.join(data, ADMIN_SOCKET_NAME), { command: 'status' });
        if (!status?.ok) throw new Error('the proxy did not answer status');
        result.upstreamParts += status.result.accounts[0]?.served.parts.upstream ?? 0;
        client.close();
        result.idleMb.push(round(idle, 1));
        result.indexingPeakMb.push(round(peak, 1));
        result.overIdleMb.push(round(peak - idle, 1));
        log(`run ${run + 1}: idle ${idle.toFixed(1)} MB, peak while indexing ${peak.toFixed(1)} MB (+${(peak - idle).toFixed(1)}), first part fetch ${result.indexingFetchMs.at(-1)} ms`);
      } finally {
        await proxy.stop();
      }
    }
    result.indexedFetchMs = round(median(indexed), 1);
    log(`part fetch: ${result.indexedFetchMs} ms from the index, ${result.directFetchMs} ms from Dovecot; ${result.upstreamParts} part sections read upstream`);
    return result;
  } finally {
    await dovecot.destroy();
  }
}

export function partsMarkdown(r: PartsResults): string[] {
  const worst = Math.max(...r.overIdleMb);
  return [
    `### Part sections from the cached body (one ${r.messageMb} MB message)`,
    '',
    '| figure | value | target |',
    '| --- | --- | --- |',
    `| peak RssAnon while indexing, over idle (worst of ${r.overIdleMb.length}) | +${worst} MB (${r.overIdleMb.map((x) => `+${x}`).join(', ')}; idle ${r.idleMb.join(', ')} MB) | <= ${TARGETS.indexingOverIdleMb} MB ${worst <= TARGETS.indexingOverIdleMb ? 'met' : 'NOT met'} |`,
    `| first part fetch, the scan included | ${r.indexingFetchMs.join(', ')} ms | |`,
    `| part fetch from the index / from Dovecot | ${r.indexedFetchMs} / ${r.directFetchMs} ms | |`,
    `| part sections read upstream once the body was cached | ${r.upstreamParts} | 0 |`,
  ];
}
