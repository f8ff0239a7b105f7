// The dedupe scenario: mail as Gmail shows it, each message in [Gmail]/All Mail and in a folder
// per label (one to five), pulled by mbsync through a proxy with an empty cache. Upstream's bytes
// (every copy) against what the proxy stored (each distinct body once, by content hash: Dovecot
// has no X-GM-MSGID), and the bodies database's size on disk; the pull checked identical.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRequest } from '../src/admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type StatsResult } from '../src/admin/protocol.js';
import { startDovecot } from '../test/support/dovecot.js';
import { ALL_MAIL, LABELS, labelledCorpus } from '../test/support/labelled.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { startProxyProcess } from './proxy-process.js';
import { diskUsageMb, log, round } from './util.js';

/** The proxy is left idle this long after the pull before it is stopped and its bodies database measured. */
const SETTLE_MS = 5000;

export interface DedupeResults {
  messages: number;
  /** Copies of them in all folders. */
  copies: number;
  /** Every copy's bytes, as upstream counts them (the sum of every folder's RFC822.SIZEs). */
  upstreamMb: number;
  /** Each message's bytes once. */
  distinctMb: number;
  /** What the proxy stored, as cache stats counts it, and the ratio to upstream's bytes. */
  storedMb: number;
  storedRatio: number;
  /** The bodies database on disk, the proxy stopped 5 s after the pull (dropped copies are compacted away meanwhile). */
  bodiesOnDiskMb: number;
  directSeconds: number;
  coldSeconds: number;
}

export async function dedupeScenario(options: { messages: number; freshDir: () => string }): Promise<DedupeResults> {
  log(`\n== dedupe: ${options.messages} messages, each in All Mail and under 1-5 labels, pulled by mbsync through the proxy`);
  const corpus = labelledCorpus({ messages: options.messages, seed: 42, bigFraction: 0.02, bigSizeMb: 5 });
  const dovecot = await startDovecot();
  try {
    for (const folder of [ALL_MAIL, ...LABELS]) await createFolder(dovecot.mailDir(), folder);
    await deliver(dovecot.mailDir(), corpus.mail);
    const reference = options.freshDir();
    const directSeconds = await mbsyncPull(dovecot.port, reference);
    const expected = JSON.stringify(await maildirDigests(reference));
    const data = options.freshDir();
    const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', data, '--prefetch', 'off']);
    let coldSeconds: number;
    let stats: StatsResult;
    try {
      const pulled = options.freshDir();
      coldSeconds = await mbsyncPull(proxy.port, pulled);
      if (JSON.stringify(await maildirDigests(pulled)) !== expected) throw new Error('pull through the proxy differs from the direct pull');
      const response = await adminRequest<StatsResult>(path.join(data, ADMIN_SOCKET_NAME), { command: 'stats' });
      if (!response?.ok) throw new Error('the proxy did not answer cache stats');
      stats = response.result;
      // second copies of long bodies are compacted away in the background (what a stop leaves is at the next start)
      await sleep(SETTLE_MS);
    } finally {
      await proxy.stop();
    }
    const bodiesOnDiskMb = await diskUsageMb(path.join(data, 'cache', 'bodies'));
    const results: DedupeResults = {
      messages: options.messages,
      copies: corpus.mail.length,
      upstreamMb: round(corpus.totalBytes / 1e6, 1),
      distinctMb: round(corpus.distinctBytes / 1e6, 1),
      storedMb: round(stats.sharing.storedBytes / 1e6, 1),
      storedRatio: round(stats.sharing.storedBytes / corpus.totalBytes, 3),
      bodiesOnDiskMb: round(bodiesOnDiskMb, 1),
      directSeconds: round(directSeconds),
      coldSeconds: round(coldSeconds),
    };
    if (stats.sharing.referencedBytes !== corpus.totalBytes) throw new Error(`cache stats counts ${stats.sharing.referencedBytes} bytes in folders, upstream ${corpus.totalBytes}`);
    log(`  upstream ${results.upstreamMb} MB in ${results.copies} copies, distinct ${results.distinctMb} MB; the proxy stored ${results.storedMb} MB (${results.storedRatio}x), bodies on disk ${results.bodiesOnDiskMb} MB`);
    log(`  pull: direct ${results.directSeconds} s, through the proxy (cold) ${results.coldSeconds} s, identical`);
    return results;
  } finally {
    await dovecot.destroy();
  }
}

export function dedupeMarkdown(r: DedupeResults): string[] {
  return [
    `## Bodies stored once: ${r.messages} messages in All Mail and under 1-5 labels (${r.copies} copies), mbsync through the proxy`,
    '',
    '| upstream (every copy) | distinct | stored by the proxy | ratio | bodies database on disk (5 s after the pull) | pull direct / through the proxy, cold |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${r.upstreamMb} MB | ${r.distinctMb} MB | ${r.storedMb} MB | ${r.storedRatio}x | ${r.bodiesOnDiskMb} MB | ${r.directSeconds} s / ${r.coldSeconds} s |`,
  ];
}
