// The sort scenario: one folder of the realistic corpus (10,000 messages by default), every SORT
// key (RFC 5256, RFC 5957 DISPLAY), REVERSE and a two-key program, and THREAD REFERENCES /
// ORDEREDSUBJECT, each timed straight from Dovecot and through a warm proxy in the same run
// (interleaved), the answers compared; the proxy's first SORT before any key is derived
// (cold, information only) and its peak RssAnon.
import { startDovecot } from '../test/support/dovecot.js';
import { generateCorpus } from '../test/support/corpus.js';
import { deliver } from '../test/support/maildir.js';
import { RawImapClient } from '../test/support/raw-client.js';
import { waitForSync } from './memory.js';
import { startProxyProcess } from './proxy-process.js';
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

export interface SortResults {
  messages: number;
  /** Per command: median milliseconds direct and through the proxy, the ratio, and whether the answers were the same. */
  commands: { command: string; directMs: number; proxyMs: number; ratio: number; sameAnswer: boolean }[];
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

async function selected(port: number): Promise<RawImapClient> {
  const client = await RawImapClient.connect(port);
  await client.login();
  await client.command('SELECT INBOX');
  return client;
}

export async function sortScenario(options: { messages: number; largeFolderMessages: number; runs: number; freshDir: () => string }): Promise<SortResults> {
  const { messages, runs, freshDir } = options;
  log(`\n== sort: SORT and THREAD over one folder of ${messages} corpus messages, straight from Dovecot and through the proxy`);
  let proxyResults: Pick<SortResults, 'commands' | 'coldFirstSortMs' | 'peakRssAnonMb'>;
  const dovecot = await startDovecot();
  try {
    await deliver(dovecot.mailDir(), generateCorpus({ seed: 42, messages, folders: 'INBOX', bigFraction: 0 }));
    const data = freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'headers']);
    try {
      const synced = waitForSync(proxy, data, STALL_SECONDS);
      const proxyClient = await selected(proxy.port);
      await synced;
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
      directClient.close();
      proxyClient.close();
      const commands = COMMANDS.map((command) => {
        const { direct, proxy: proxied, sameAnswer } = samples.get(command) as { direct: number[]; proxy: number[]; sameAnswer: boolean };
        const directMs = median(direct);
        const proxyMs = median(proxied);
        return { command, directMs: round(directMs, 1), proxyMs: round(proxyMs, 1), ratio: round(proxyMs / directMs), sameAnswer };
      });
      proxyResults = { commands, coldFirstSortMs: round(cold.ms, 0), peakRssAnonMb: round(proxy.peakRssAnonMb(), 1) };
    } finally {
      await proxy.stop();
    }
  } finally {
    await dovecot.destroy();
  }
  const largeFolder = await largeFolderMemory(options.largeFolderMessages, freshDir());
  log(`  ${largeFolder.messages} synthetic messages: every SORT key and both THREADs in ${largeFolder.seconds} s, RssAnon ${largeFolder.baselineMb} -> peak ${largeFolder.peakMb} MB`);
  return { messages, ...proxyResults, largeFolder };
}

export function sortMarkdown(r: SortResults): string[] {
  return [
    `## SORT and THREAD: one folder of ${r.messages} corpus messages (medians)`,
    '',
    'Each command over the whole folder on a selected connection, straight from Dovecot and through a warm proxy (every command run once on each side first), interleaved.',
    '',
    '| command | direct (ms) | proxy (ms) | ratio | same answer |',
    '| --- | --- | --- | --- | --- |',
    ...r.commands.map((c) => `| \`${c.command}\` | ${c.directMs} | ${c.proxyMs} | ${c.ratio}x | ${c.sameAnswer ? 'yes' : '**no**'} |`),
    '',
    `The proxy's first \`UID SORT (ARRIVAL)\` after its background sync, before any sort key was derived: ${r.coldFirstSortMs} ms. Peak RssAnon of the proxy: ${r.peakRssAnonMb} MB.`,
    '',
    `A synthetic folder of ${r.largeFolder.messages} messages, its sort keys written straight into a cache: every SORT key and both THREAD algorithms (each building its columns in one pass over the cache) took ${r.largeFolder.seconds} s; RssAnon ${r.largeFolder.baselineMb} MB before, peak ${r.largeFolder.peakMb} MB: ${r.largeFolder.bytesPerMessage} bytes per message.`,
  ];
}
