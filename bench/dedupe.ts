// The dedupe scenario: mail as Gmail shows it, each message in [Gmail]/All Mail and in a folder
// per label (one to five), pulled by mbsync through a proxy with an empty cache. Upstream's bytes
// (every copy) against what the proxy downloaded and stored, and the bodies database's size on
// disk; the pull checked identical. Twice: against Dovecot as it is (no X-GM-MSGID: every copy
// is downloaded, each distinct body stored once by content hash), and through a relay that makes
// Dovecot look like Gmail (test/support/gmail-relay.ts: X-GM-MSGID, so each message is downloaded
// once).
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRequest } from '../src/admin/admin-client.js';
import { ADMIN_SOCKET_NAME, type StatsResult, type StatusResult } from '../src/admin/protocol.js';
import { startDovecot } from '../test/support/dovecot.js';
import { startGmailRelay } from '../test/support/gmail-relay.js';
import { ALL_MAIL, LABELS, labelledCorpus } from '../test/support/labelled.js';
import { createFolder, deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { startProxyProcess } from './proxy-process.js';
import { diskUsageMb, log, round } from './util.js';

/** The proxy is left idle this long after the pull before it is stopped and its bodies database measured. */
const SETTLE_MS = 5000;

/** One pull through a proxy with an empty cache. */
export interface DedupePull {
  /** Message bytes the proxy downloaded from upstream (status: downloaded today). */
  downloadedMb: number;
  /** Everything its upstream connections read (status: upstream traffic), protocol included. */
  upstreamReadMb: number;
  /** What the proxy stored, as cache stats counts it, and the ratio to upstream's bytes. */
  storedMb: number;
  storedRatio: number;
  /** The bodies database on disk, the proxy stopped 5 s after the pull (dropped copies are compacted away meanwhile). */
  bodiesOnDiskMb: number;
  coldSeconds: number;
}

export interface DedupeResults extends DedupePull {
  messages: number;
  /** Copies of them in all folders. */
  copies: number;
  /** Every copy's bytes, as upstream counts them (the sum of every folder's RFC822.SIZEs). */
  upstreamMb: number;
  /** Each message's bytes once. */
  distinctMb: number;
  directSeconds: number;
  /** The same pull with X-GM-MSGID (Dovecot made to look like Gmail by a relay, which costs time of its own). */
  gmail: DedupePull;
}

/** mbsync pulls everything through a new proxy in front of `port`; the pull is compared with `expected`. */
async function pullThrough(port: number, corpusBytes: number, expected: string, freshDir: () => string): Promise<DedupePull> {
  const data = freshDir();
  const proxy = await startProxyProcess(['--upstream', `imap://127.0.0.1:${port}`, '--data', data, '--prefetch', 'off']);
  let coldSeconds: number;
  let stats: StatsResult;
  let status: StatusResult;
  try {
    const pulled = freshDir();
    coldSeconds = await mbsyncPull(proxy.port, pulled);
    if (JSON.stringify(await maildirDigests(pulled)) !== expected) throw new Error('pull through the proxy differs from the direct pull');
    const socket = path.join(data, ADMIN_SOCKET_NAME);
    const statsResponse = await adminRequest<StatsResult>(socket, { command: 'stats' });
    const statusResponse = await adminRequest<StatusResult>(socket, { command: 'status' });
    if (!statsResponse?.ok || !statusResponse?.ok) throw new Error('the proxy did not answer cache stats and status');
    stats = statsResponse.result;
    status = statusResponse.result;
    // second copies of long bodies are compacted away in the background (what a stop leaves is at the next start)
    await sleep(SETTLE_MS);
  } finally {
    await proxy.stop();
  }
  if (stats.sharing.referencedBytes !== corpusBytes) throw new Error(`cache stats counts ${stats.sharing.referencedBytes} bytes in folders, upstream ${corpusBytes}`);
  const account = status.accounts[0];
  if (!account) throw new Error('status lists no account');
  return {
    downloadedMb: round(account.downloaded.bytes / 1e6, 1),
    upstreamReadMb: round(account.upstreamTraffic.read / 1e6, 1),
    storedMb: round(stats.sharing.storedBytes / 1e6, 1),
    storedRatio: round(stats.sharing.storedBytes / corpusBytes, 3),
    bodiesOnDiskMb: round(await diskUsageMb(path.join(data, 'cache', 'bodies')), 1),
    coldSeconds: round(coldSeconds),
  };
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
    const byContent = await pullThrough(dovecot.port, corpus.totalBytes, expected, options.freshDir);
    const relay = await startGmailRelay(dovecot, { closedByCaller: true });
    let gmail: DedupePull;
    try {
      gmail = await pullThrough(relay.port, corpus.totalBytes, expected, options.freshDir);
    } finally {
      await relay.close();
    }
    const results: DedupeResults = {
      messages: options.messages,
      copies: corpus.mail.length,
      upstreamMb: round(corpus.totalBytes / 1e6, 1),
      distinctMb: round(corpus.distinctBytes / 1e6, 1),
      directSeconds: round(directSeconds),
      ...byContent,
      gmail,
    };
    log(`  upstream ${results.upstreamMb} MB in ${results.copies} copies, distinct ${results.distinctMb} MB; pull direct ${results.directSeconds} s, identical through the proxy`);
    for (const [name, pull] of [['by content hash', byContent], ['with X-GM-MSGID (Gmail-like relay)', gmail]] as const) {
      log(`  ${name}: downloaded ${pull.downloadedMb} MB (upstream read ${pull.upstreamReadMb} MB), stored ${pull.storedMb} MB (${pull.storedRatio}x), bodies on disk ${pull.bodiesOnDiskMb} MB, cold pull ${pull.coldSeconds} s`);
    }
    return results;
  } finally {
    await dovecot.destroy();
  }
}

export function dedupeMarkdown(r: DedupeResults): string[] {
  const row = (name: string, p: DedupePull) =>
    `| ${name} | ${p.downloadedMb} MB (${p.upstreamReadMb} MB read) | ${p.storedMb} MB | ${p.storedRatio}x | ${p.bodiesOnDiskMb} MB | ${r.directSeconds} s / ${p.coldSeconds} s |`;
  return [
    `## Bodies stored once: ${r.messages} messages in All Mail and under 1-5 labels (${r.copies} copies, ${r.upstreamMb} MB upstream, ${r.distinctMb} MB distinct), mbsync through the proxy`,
    '',
    '| upstream | downloaded by the proxy (all it read upstream) | stored | stored / upstream | bodies database on disk (5 s after the pull) | pull direct / through the proxy, cold |',
    '| --- | --- | --- | --- | --- | --- |',
    row('Dovecot (no X-GM-MSGID: stored by content hash)', r),
    ...(r.gmail ? [row('Dovecot as Gmail (X-GM-MSGID through a relay)', r.gmail)] : []),
  ];
}
