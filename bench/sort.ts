// The sort scenario: one folder of the realistic corpus (10,000 messages by default), every SORT
// key (RFC 5256, RFC 5957 DISPLAY), REVERSE and a two-key program, and THREAD REFERENCES /
// ORDEREDSUBJECT, each timed straight from Dovecot and through a warm proxy in the same run
// (interleaved), the answers compared; the proxy's first SORT before any key is derived
// (cold, information only) and its peak RssAnon. Then the same answers checked with the server
// stopped (offline, from the cache alone) and through a proxy in front of a second Dovecot that
// announces no SORT or THREAD (as Outlook.com), against that Dovecot's own answers.
import { startDovecot, type Dovecot, type DovecotOptions } from '../test/support/dovecot.js';
import { generateCorpus } from '../test/support/corpus.js';
import { deliver } from '../test/support/maildir.js';
import { RawImapClient } from '../test/support/raw-client.js';
import { waitForSync } from './memory.js';
import { startProxyProcess, type ProxyProcess } from './proxy-process.js';
import { largeFolderMemory, type LargeFolderResult } from './sort-memory.js';
import { log, median, round } from './util.js';

/** What a client asks, each as `UID SORT`/`UID THREAD` over the whole folder. */
const COMMANDS = [
  ...['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO', 'REVERSE DATE', 'SUBJECT DATE'].map((program) => `UID SORT (${program}) UTF-8 ALL`),
  'UID THREAD REFERENCES UTF-8 ALL',
  'UID THREAD ORDEREDSUBJECT UTF-8 ALL',
];
/** Times each command is run per run and side (the median of all of them is reported). */
const REPEATS = 5;
/** The background sync of the folder is given up on after this long without progress. */
const STALL_SECONDS = 300;
/** A server as Outlook.com announces itself: no SORT, THREAD, ESORT, CONDSTORE or QRESYNC. */
const WITHOUT_SORT = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS MOVE NAMESPACE LITERAL+ CHILDREN UNSELECT';

export interface SortResults {
  messages: number;
  /**
   * Per command: median milliseconds direct and through the proxy, the ratio, whether the answers
   * were the same, offline too, and through a proxy whose server announces no SORT or THREAD.
   */
  commands: { command: string; directMs: number; proxyMs: number; ratio: number; sameAnswer: boolean; sameOffline: boolean; sameWithoutSort: boolean }[];
  /** The proxy's first `UID SORT (ARRIVAL)` after its background sync, before any sort key was derived. */
  coldFirstSortMs: number;
  peakRssAnonMb: number;
  /** A synthetic folder's keys written straight into a cache, then every SORT key and both THREADs over it. */
  largeFolder: LargeFolderResult;
}

/** Milliseconds for one command, and its untagged answer. */
async function timed(client: RawImapClient, command: string): Promise<{ ms: number; answer: string }> {
  const start = performance.now();
  const response = await client.command(command);
  const ms = performance.now() - start;
  if (!/^T\d+ OK/.test(response.tagged)) throw new Error(`${command}: ${response.tagged}`);
  return { ms, answer: Buffer.concat(response.untagged).toString('latin1') };
}

/** Each command's answer on one connection. */
async function answers(client: RawImapClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const command of COMMANDS) out.set(command, (await timed(client, command)).answer);
  return out;
}

/**
 * A Dovecot holding one folder of the corpus and a proxy in front of it, the folder's headers
 * synced; `work` gets them and a client of the proxy with the folder selected.
 */
async function withSyncedProxy<T>(
  messages: number,
  freshDir: () => string,
  dovecotOptions: DovecotOptions,
  work: (dovecot: Dovecot, proxy: ProxyProcess, proxyClient: RawImapClient) => Promise<T>,
): Promise<T> {
  const dovecot = await startDovecot(dovecotOptions);
  try {
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 42, messages, folders: 'INBOX', bigFraction: 0 }));
    const data = freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'headers']);
    try {
      const synced = waitForSync(proxy, data, STALL_SECONDS);
      const proxyClient = await selected(proxy.port);
      await synced;
      return await work(dovecot, proxy, proxyClient);
    } finally {
      await proxy.stop();
    }
  } finally {
    await dovecot.destroy();
  }
}

/**
 * The proxy's answers in front of a Dovecot that announces no SORT or THREAD, compared per command
 * with that Dovecot's own (it still answers them when asked), on the same corpus.
 */
function withoutSortUpstream(messages: number, freshDir: () => string): Promise<Map<string, boolean>> {
  return withSyncedProxy(messages, freshDir, { capabilities: WITHOUT_SORT }, async (dovecot, _proxy, proxyClient) => {
    const direct = await answers(await selected(dovecot.port));
    const proxied = await answers(proxyClient);
    proxyClient.close();
    return new Map(COMMANDS.map((command) => [command, direct.get(command) === proxied.get(command)]));
  });
}

async function selected(port: number): Promise<RawImapClient> {
  const client = await RawImapClient.connect(port);
  await client.login();
  await client.command('SELECT INBOX');
  return client;
}

export async function sortScenario(options: { messages: number; largeFolderMessages: number; runs: number; freshDir: () => string }): Promise<SortResults> {
  const { messages, runs, freshDir } = options;
  log(`\n== sort: SORT and THREAD over one folder of ${messages} corpus messages, straight from Dovecot and through the proxy`);
  const measured = await withSyncedProxy(messages, freshDir, {}, async (dovecot, proxy, proxyClient) => {
    const cold = await timed(proxyClient, COMMANDS[0] as string);
    log(`  proxy's first SORT, keys not yet derived: ${cold.ms.toFixed(0)} ms`);
    const directClient = await selected(dovecot.port);
    // warm: every command once on each side (Dovecot fills its cache file here, the proxy its columns)
    for (const command of COMMANDS) {
      await timed(directClient, command);
      await timed(proxyClient, command);
    }
    const samples = new Map(COMMANDS.map((command) => [command, { direct: [] as number[], proxy: [] as number[], sameAnswer: true }]));
    for (let run = 1; run <= runs; run++) {
      for (const command of COMMANDS) {
        const sample = samples.get(command) as { direct: number[]; proxy: number[]; sameAnswer: boolean };
        for (let i = 0; i < REPEATS; i++) {
          const direct = await timed(directClient, command);
          const proxied = await timed(proxyClient, command);
          sample.direct.push(direct.ms);
          sample.proxy.push(proxied.ms);
          if (direct.answer !== proxied.answer) sample.sameAnswer = false;
        }
      }
      log(`  run #${run}: ${COMMANDS.map((command) => `${command.replace(/ UTF-8 ALL$/, '')} ${round(median(samples.get(command)?.proxy.slice(-REPEATS) ?? []), 1)} ms`).join(', ')}`);
    }
    // offline: the server stopped, the proxy answers from its cache alone
    const online = await answers(directClient);
    directClient.close();
    await dovecot.stop();
    const offline = await answers(proxyClient);
    proxyClient.close();
    return { samples, online, offline, coldFirstSortMs: round(cold.ms, 0), peakRssAnonMb: round(proxy.peakRssAnonMb(), 1) };
  });
  const withoutSort = await withoutSortUpstream(messages, freshDir);
  const commands = COMMANDS.map((command) => {
    const { direct, proxy: proxied, sameAnswer } = measured.samples.get(command) as { direct: number[]; proxy: number[]; sameAnswer: boolean };
    const directMs = median(direct);
    const proxyMs = median(proxied);
    const sameOffline = measured.offline.get(command) === measured.online.get(command);
    return { command, directMs: round(directMs, 1), proxyMs: round(proxyMs, 1), ratio: round(proxyMs / directMs), sameAnswer, sameOffline, sameWithoutSort: withoutSort.get(command) === true };
  });
  const largeFolder = await largeFolderMemory(options.largeFolderMessages, freshDir());
  log(`  ${largeFolder.messages} synthetic messages: every SORT key and both THREADs in ${largeFolder.seconds} s, RssAnon ${largeFolder.baselineMb} -> peak ${largeFolder.peakMb} MB`);
  return { messages, commands, coldFirstSortMs: measured.coldFirstSortMs, peakRssAnonMb: measured.peakRssAnonMb, largeFolder };
}

const yesNo = (same: boolean) => (same ? 'yes' : '**no**');

export function sortMarkdown(r: SortResults): string[] {
  return [
    `## SORT and THREAD: one folder of ${r.messages} corpus messages (medians)`,
    '',
    'Each command over the whole folder on a selected connection, straight from Dovecot and through a warm proxy (every command run once on each side first), interleaved. The answers compared with Dovecot\'s: online, offline (Dovecot stopped, the proxy answering from its cache), and through a proxy in front of a second Dovecot that announces no SORT or THREAD (as Outlook.com).',
    '',
    '| command | direct (ms) | proxy (ms) | ratio | same answer | offline | server without SORT/THREAD |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.commands.map((c) => `| \`${c.command}\` | ${c.directMs} | ${c.proxyMs} | ${c.ratio}x | ${yesNo(c.sameAnswer)} | ${yesNo(c.sameOffline)} | ${yesNo(c.sameWithoutSort)} |`),
    '',
    `The proxy's first \`UID SORT (ARRIVAL)\` after its background sync, before any sort key was derived: ${r.coldFirstSortMs} ms. Peak RssAnon of the proxy: ${r.peakRssAnonMb} MB.`,
    '',
    `A synthetic folder of ${r.largeFolder.messages} messages, its sort keys written straight into a cache: every SORT key and both THREAD algorithms (each building its columns in one pass over the cache) took ${r.largeFolder.seconds} s; RssAnon ${r.largeFolder.baselineMb} MB before, peak ${r.largeFolder.peakMb} MB: ${r.largeFolder.bytesPerMessage} bytes per message.`,
  ];
}
