// The stress scenario: Dovecot's own stress tester, imaptest (10 clients logging in, selecting,
// fetching, storing, expunging and appending on one mailbox, every answer checked), against
// Dovecot directly and then through the proxy in front of a fresh Dovecot; per mailbox of small
// messages and of large ones. Then an mbsync pull through the proxy must equal one from Dovecot.
// Runs where `imaptest` is installed (../shared/eval/build-imaptest.sh); skipped elsewhere.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateCorpus } from '../test/support/corpus.js';
import { startDovecot } from '../test/support/dovecot.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { startProxyProcess } from './proxy-process.js';
import { log, round } from './util.js';

/** imaptest's command columns, as its Totals block names them. */
export type CommandRates = Record<string, number>;

export interface StressRun {
  errorLines: number;
  /** Commands done per column (Logi, List, Stat, Sele, Fetc, Fet2, Stor, Dele, Expu, Appe, Logo). */
  totals: CommandRates;
  /** The first few error lines, for the record. */
  sampleErrors: string[];
}

export interface StressCase {
  mailbox: string;
  messages: number;
  mboxMb: number;
  direct: StressRun;
  proxied: StressRun;
  /** Per command: proxied / direct. */
  ratios: CommandRates;
  lowestRatio: number;
  peakRssAnonMb: number;
  pullIdentical: boolean;
}

export interface StressResults {
  clients: number;
  seconds: number;
  cases: StressCase[];
}

const CLIENTS = 10;

export function imaptestInstalled(): boolean {
  return spawnSync('imaptest', ['--help'], { stdio: 'ignore' }).error === undefined;
}

/** An mbox file of a generated corpus (imaptest appends its messages). */
async function writeMbox(file: string, messages: number, bigFraction: number, bigSizeMb: number, seed: number): Promise<number> {
  const parts: Buffer[] = [];
  for (const message of generateCorpus({ seed, messages, folders: 'INBOX:1', bigFraction, bigSizeMb })) {
    const body = Buffer.concat([...message.chunks()]).toString('latin1').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
    parts.push(Buffer.from(`From stress@example.org Sat Jan  3 01:05:34 2026\n${body}${body.endsWith('\n') ? '' : '\n'}\n`, 'latin1'));
  }
  const mbox = Buffer.concat(parts);
  await writeFile(file, mbox);
  return mbox.length;
}

/** One imaptest stress run against a server; its error lines and the commands it completed. */
function imaptest(port: number, mbox: string, seconds: number, cwd: string): Promise<StressRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('imaptest', ['host=127.0.0.1', `port=${port}`, 'user=test', 'pass=pass', `mbox=${mbox}`, `clients=${CLIENTS}`, `secs=${seconds}`], { cwd });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const errors = output.split('\n').filter((line) => line.includes('Error:'));
      const lines = output.split('\n');
      const at = lines.lastIndexOf('Totals:');
      if (at < 0) return reject(new Error(`imaptest printed no totals:\n${output.slice(-2000)}`));
      const names = (lines[at + 1] ?? '').trim().split(/\s+/);
      // the counts are the last line of the block: names, percentages (one or two lines), counts
      const counts = lines.slice(at + 2, at + 6).map((l) => l.trim().split(/\s+/)).find((cells) => cells.length === names.length && cells.every((c) => /^\d+$/.test(c)));
      if (!counts) return reject(new Error(`imaptest's totals not understood:\n${lines.slice(at, at + 6).join('\n')}`));
      resolve({ errorLines: errors.length, totals: Object.fromEntries(names.map((name, i) => [name, Number(counts[i])])), sampleErrors: errors.slice(0, 5) });
    });
  });
}

async function stressCase(name: string, mbox: { messages: number; bigFraction: number; bigSizeMb: number }, seconds: number, freshDir: () => string): Promise<StressCase> {
  // imaptest's working directory, and its mbox
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.mbox`);
  const bytes = await writeMbox(file, mbox.messages, mbox.bigFraction, mbox.bigSizeMb, 7);
  log(`  ${name}: ${mbox.messages} messages, ${(bytes / 1e6).toFixed(0)} MB of mbox`);
  const first = await startDovecot();
  let direct: StressRun;
  try {
    direct = await imaptest(first.port, file, seconds, dir);
  } finally {
    await first.destroy();
  }
  log(`    direct: ${direct.errorLines} error lines; ${JSON.stringify(direct.totals)}`);
  const dovecot = await startDovecot();
  try {
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', freshDir(), '--prefetch', 'off']);
    let proxied: StressRun;
    let pullIdentical = false;
    try {
      proxied = await imaptest(proxy.port, file, seconds, dir);
      const through = freshDir();
      const straight = freshDir();
      await mbsyncPull(proxy.port, through);
      await mbsyncPull(dovecot.port, straight);
      pullIdentical = JSON.stringify(await maildirDigests(through)) === JSON.stringify(await maildirDigests(straight));
    } finally {
      await proxy.stop();
    }
    const ratios = Object.fromEntries(Object.entries(direct.totals).map(([command, count]) => [command, round((proxied.totals[command] ?? 0) / Math.max(count, 1))]));
    const result: StressCase = {
      mailbox: name,
      messages: mbox.messages,
      mboxMb: round(bytes / 1e6, 1),
      direct,
      proxied,
      ratios,
      lowestRatio: Math.min(...Object.values(ratios)),
      peakRssAnonMb: round(proxy.peakRssAnonMb(), 1),
      pullIdentical,
    };
    log(`    proxy: ${proxied.errorLines} error lines; ${JSON.stringify(proxied.totals)}; lowest rate ratio ${result.lowestRatio}x; peak RssAnon ${result.peakRssAnonMb} MB; mbsync pull afterwards ${pullIdentical ? 'identical' : 'DIFFERENT'}`);
    for (const line of proxied.sampleErrors) log(`      ${line}`);
    return result;
  } finally {
    await dovecot.destroy();
  }
}

export async function stressScenario(options: { seconds: number; freshDir: () => string }): Promise<StressResults> {
  log(`\n== stress: imaptest, ${CLIENTS} clients for ${options.seconds} s, Dovecot directly and through the proxy`);
  const cases = [
    await stressCase('small', { messages: 300, bigFraction: 0, bigSizeMb: 1 }, options.seconds, options.freshDir),
    await stressCase('large', { messages: 60, bigFraction: 0.3, bigSizeMb: 2 }, options.seconds, options.freshDir),
  ];
  return { clients: CLIENTS, seconds: options.seconds, cases };
}

export function stressMarkdown(s: StressResults): string[] {
  const lines = [
    `## imaptest stress: ${s.clients} clients, ${s.seconds} s, on one mailbox (LOGIN, SELECT, FETCH, STORE, EXPUNGE, APPEND; every answer checked)`,
    '',
    '| mailbox | error lines direct / proxy | commands done, proxy / direct (lowest) | peak RssAnon (MB) | mbsync pull afterwards |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const c of s.cases) {
    const ratios = Object.entries(c.ratios).map(([command, ratio]) => `${command} ${ratio}`).join(', ');
    lines.push(`| ${c.mailbox}: ${c.messages} messages, ${c.mboxMb} MB | ${c.direct.errorLines} / ${c.proxied.errorLines} | ${ratios} (${c.lowestRatio}x) | ${c.peakRssAnonMb} | ${c.pullIdentical ? 'identical' : '**different**'} |`);
  }
  return lines;
}
