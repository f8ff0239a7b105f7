// The nocondstore scenario: one big folder (100,000 small messages by default) behind a Dovecot
// that announces what Microsoft 365 does (no CONDSTORE, QRESYNC, NOTIFY, ESEARCH). After flag
// changes and expunges made upstream by another client: how long until the proxy's SELECT +
// `UID FETCH 1:* (FLAGS)` is upstream's, and how many bytes that resync read from upstream (the
// proxy's own count, `status --json`). Also the first fill, a resync with nothing changed, and
// expunges and new mail while no client has the folder open, found by the watcher's STATUS polls
// (--poll-interval 2s) and a quick sync. The client is client-sessions.py, as in the scale scenario.
import path from 'node:path';
import { OUTLOOK_CAPABILITIES, startDovecot } from '../test/support/dovecot.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { smallMessages } from '../test/support/small-messages.js';
import type { StatsResult, StatusResult } from '../src/admin/protocol.js';
import type { Traffic } from '../src/model/types.js';
import { CLI, startProxyProcess } from './proxy-process.js';
import { log, round, run } from './util.js';

const CLIENT = path.resolve(import.meta.dirname, '../../bench/client-sessions.py');
const FOLDER = 'Archive';
/** A resync that has not shown upstream's state after this long failed. */
const GIVE_UP_SECONDS = 60;
/** Without a client: expunges and new messages upstream, and the interval of the watcher's polls. */
const BACKGROUND_EXPUNGES = 10;
const BACKGROUND_APPENDS = 5;
const POLL_INTERVAL = '2s';

interface FlagsSession {
  selectSeconds: number;
  fetchSeconds: number;
  messages: number;
  digest: string;
}

/** One resync through the proxy: its SELECT and FETCH, and what it read from and wrote to upstream (KB). */
interface Resync {
  selectSeconds: number;
  fetchSeconds: number;
  upstreamReadKb: number;
  upstreamWrittenKb: number;
}

export interface NoCondstoreResults {
  messages: number;
  flagChanges: number;
  expunges: number;
  /** A client straight from Dovecot, after the changes: SELECT and UID FETCH 1:* (FLAGS). */
  direct: { selectSeconds: number; fetchSeconds: number };
  /** The proxy's first SELECT (an empty cache) and its FETCH. */
  firstFill: Resync;
  /** SELECT + FETCH again, nothing changed upstream. */
  unchanged: Resync;
  /** After the changes: the first SELECT + FETCH whose answer equalled Dovecot's; `seconds` from the first SELECT. */
  changed: Resync & { seconds: number; attempts: number; identical: boolean };
  /** Expunges and new mail while no client has the folder open: seconds until the cache had them (from before the change), what the proxy read and wrote upstream meanwhile (KB). */
  background: { expunges: number; appends: number; pollInterval: string; seconds: number; upstreamReadKb: number; upstreamWrittenKb: number };
  peakRssAnonMb: number;
}

async function client(kind: string, port: number, ...rest: string[]): Promise<unknown> {
  const { stdout } = await run('python3', [CLIENT, kind, '127.0.0.1', String(port), ...rest], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

const flagsSession = async (port: number) => (await client('flags', port, FOLDER)) as FlagsSession;

/** The account's upstream traffic so far (none before its first login). */
async function upstreamTraffic(data: string): Promise<Traffic> {
  const { stdout } = await run(CLI, ['status', '--data', data, '--json']);
  return (JSON.parse(stdout) as StatusResult).accounts[0]?.upstreamTraffic ?? { read: 0, written: 0 };
}

/** The messages the proxy has cached of the folder (`cache stats --json`). */
async function cachedMessages(data: string): Promise<number | undefined> {
  const { stdout } = await run(CLI, ['cache', 'stats', '--data', data, '--json']);
  return (JSON.parse(stdout) as StatsResult).accounts[0]?.folders.find((f) => f.folder === FOLDER)?.messages;
}

/** A flags session through the proxy, with the upstream traffic it caused. */
async function measured(port: number, data: string): Promise<FlagsSession & Resync> {
  const before = await upstreamTraffic(data);
  const session = await flagsSession(port);
  const after = await upstreamTraffic(data);
  return { ...session, upstreamReadKb: round((after.read - before.read) / 1024, 1), upstreamWrittenKb: round((after.written - before.written) / 1024, 1) };
}

/** `count` UIDs spread over 1..messages, starting at `offset`, newest first. */
const spread = (messages: number, count: number, offset: number) =>
  Array.from({ length: count }, (_, i) => messages - offset - Math.floor((i * messages) / count)).filter((uid) => uid >= 1);

export async function noCondstoreScenario(options: { messages: number; flagChanges: number; expunges: number; freshDir: () => string }): Promise<NoCondstoreResults> {
  const { messages, flagChanges, expunges, freshDir } = options;
  log(`\n== nocondstore: a folder of ${messages} small messages behind a Dovecot without CONDSTORE, QRESYNC, NOTIFY; ${flagChanges} flag changes and ${expunges} expunges upstream`);
  const dovecot = await startDovecot({ capabilities: OUTLOOK_CAPABILITIES });
  try {
    const loadStart = performance.now();
    await createFolder(dovecot.mailDir(), FOLDER);
    await deliver(dovecot.mailDir(), smallMessages(FOLDER, messages));
    await flagsSession(dovecot.port); // Dovecot builds its index here, not in a timed run
    log(`  folder delivered and indexed in ${((performance.now() - loadStart) / 1000).toFixed(0)} s`);

    const data = freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'off', '--poll-interval', POLL_INTERVAL]);
    try {
      const firstFill = await measured(proxy.port, data);
      if (firstFill.messages !== messages) throw new Error(`first SELECT: ${firstFill.messages} FETCH responses, expected ${messages}`);
      const unchanged = await measured(proxy.port, data);
      log(`  first fill: SELECT ${firstFill.selectSeconds.toFixed(2)} s, ${firstFill.upstreamReadKb} KB read upstream; unchanged: SELECT ${unchanged.selectSeconds.toFixed(3)} s, ${unchanged.upstreamReadKb} KB`);

      const flagged = spread(messages, flagChanges, 0);
      const half = Math.ceil(flagged.length / 2);
      const gone = spread(messages, expunges, 7).filter((uid) => !flagged.includes(uid));
      const steps = [`${flagged.slice(0, half).join(',')} +FLAGS (\\Seen)`, `${flagged.slice(half).join(',')} +FLAGS (\\Flagged $Bench)`, `${gone.join(',')} expunge`];
      await client('change', dovecot.port, FOLDER, steps.join(';'));
      const direct = await flagsSession(dovecot.port);
      if (direct.messages !== messages - gone.length) throw new Error(`Dovecot has ${direct.messages} messages after the changes, expected ${messages - gone.length}`);

      const before = await upstreamTraffic(data);
      const start = performance.now();
      let attempts = 0;
      let last: FlagsSession;
      do {
        attempts++;
        last = await flagsSession(proxy.port);
      } while (last.digest !== direct.digest && performance.now() - start < GIVE_UP_SECONDS * 1000);
      const seconds = (performance.now() - start) / 1000;
      const after = await upstreamTraffic(data);
      const identical = last.digest === direct.digest;
      const changed = {
        selectSeconds: round(last.selectSeconds, 4),
        fetchSeconds: round(last.fetchSeconds, 4),
        upstreamReadKb: round((after.read - before.read) / 1024, 1),
        upstreamWrittenKb: round((after.written - before.written) / 1024, 1),
        seconds: round(seconds, 3),
        attempts,
        identical,
      };
      log(`  after the changes: ${identical ? 'identical' : 'NOT identical'} after ${seconds.toFixed(2)} s (${attempts} attempt(s); SELECT ${last.selectSeconds.toFixed(3)} s, FETCH ${last.fetchSeconds.toFixed(3)} s), ${changed.upstreamReadKb} KB read upstream, ${changed.upstreamWrittenKb} KB written; direct SELECT ${direct.selectSeconds.toFixed(3)} s, FETCH ${direct.fetchSeconds.toFixed(3)} s`);

      // no client has the folder open now: only the watcher's polls see what comes and goes
      const taken = new Set([...flagged, ...gone]);
      const backgroundGone = spread(messages, BACKGROUND_EXPUNGES, 13).filter((uid) => !taken.has(uid));
      const expected = direct.messages - backgroundGone.length + BACKGROUND_APPENDS;
      const quietBefore = await upstreamTraffic(data);
      const quietStart = performance.now();
      await client('change', dovecot.port, FOLDER, `${backgroundGone.join(',')} expunge;${BACKGROUND_APPENDS} append`);
      while ((await cachedMessages(data)) !== expected) {
        if (performance.now() - quietStart > GIVE_UP_SECONDS * 1000) throw new Error(`the cache did not follow ${backgroundGone.length} expunges and ${BACKGROUND_APPENDS} new messages within ${GIVE_UP_SECONDS} s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const quietSeconds = (performance.now() - quietStart) / 1000;
      const quietAfter = await upstreamTraffic(data);
      const background = {
        expunges: backgroundGone.length,
        appends: BACKGROUND_APPENDS,
        pollInterval: POLL_INTERVAL,
        seconds: round(quietSeconds, 2),
        upstreamReadKb: round((quietAfter.read - quietBefore.read) / 1024, 1),
        upstreamWrittenKb: round((quietAfter.written - quietBefore.written) / 1024, 1),
      };
      log(`  no client on the folder: ${background.expunges} expunges and ${background.appends} new messages in the cache after ${background.seconds} s, ${background.upstreamReadKb} KB read upstream, ${background.upstreamWrittenKb} KB written`);
      const resync = (r: Resync): Resync => ({ selectSeconds: round(r.selectSeconds, 4), fetchSeconds: round(r.fetchSeconds, 4), upstreamReadKb: r.upstreamReadKb, upstreamWrittenKb: r.upstreamWrittenKb });
      return {
        messages,
        flagChanges: flagged.length,
        expunges: gone.length,
        direct: { selectSeconds: round(direct.selectSeconds, 4), fetchSeconds: round(direct.fetchSeconds, 4) },
        firstFill: resync(firstFill),
        unchanged: resync(unchanged),
        changed,
        background,
        peakRssAnonMb: round(proxy.peakRssAnonMb(), 1),
      };
    } finally {
      await proxy.stop();
    }
  } finally {
    await dovecot.destroy();
  }
}

export function noCondstoreMarkdown(r: NoCondstoreResults): string[] {
  const row = (name: string, x: Resync, extra = '') =>
    `| ${name} | ${round(x.selectSeconds * 1000, 1)} | ${round(x.fetchSeconds * 1000, 1)} | ${x.upstreamReadKb} | ${x.upstreamWrittenKb} | ${extra} |`;
  return [
    `## No CONDSTORE upstream: one folder of ${r.messages} small messages`,
    '',
    `Dovecot announcing only what Microsoft 365 does (no CONDSTORE, QRESYNC, NOTIFY, ESEARCH); ${r.flagChanges} flag changes and ${r.expunges} expunges made upstream by another client, then \`SELECT\` and \`UID FETCH 1:* (FLAGS)\` through the proxy until the answer equals Dovecot's.`,
    '',
    '| through the proxy | SELECT (ms) | FETCH (ms) | read upstream (KB) | written upstream (KB) | |',
    '| --- | --- | --- | --- | --- | --- |',
    row('first SELECT (empty cache)', r.firstFill),
    row('again, nothing changed', r.unchanged),
    row(`after the changes`, r.changed, `${r.changed.identical ? 'identical to upstream' : '**not identical**'} ${r.changed.seconds} s after the first SELECT (${r.changed.attempts} attempt(s))`),
    `| straight from Dovecot, after the changes | ${round(r.direct.selectSeconds * 1000, 1)} | ${round(r.direct.fetchSeconds * 1000, 1)} | | | |`,
    '',
    `No client on the folder, ${r.background.expunges} expunges and ${r.background.appends} new messages upstream: in the cache ${r.background.seconds} s later (the watcher's STATUS polls, --poll-interval ${r.background.pollInterval}, then a quick sync), ${r.background.upstreamReadKb} KB read upstream and ${r.background.upstreamWrittenKb} KB written meanwhile.`,
    '',
    `Peak RssAnon of the proxy: ${r.peakRssAnonMb} MB.`,
  ];
}
