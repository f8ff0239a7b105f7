import type { Sharing, StatsResult, StatusResult, Usage, VerifyResult } from '../admin/protocol.js';

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const percent = (part: number, whole: number) => `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;

/** An ISO 8601 time as local date and time to the second. */
function clock(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n');
}

/** The columns `cache stats` and `status` share: bodies and their bytes cached, against all there are. */
const bodiesCell = (u: Usage) => `${u.bodies}/${u.messages} (${percent(u.bodies, u.messages)})`;
const bytesCell = (u: Usage) => `${megabytes(u.bodyBytes)}/${megabytes(u.totalBytes)} (${percent(u.bodyBytes, u.totalBytes)})`;

/** An account as the user knows it: its login name, and the user upstream where that differs. */
const accountLabel = (a: { name: string; user: string; upstream: string }) => `${a.name}${a.name === a.user ? '' : ` (${a.user})`} on ${a.upstream}`;

/** A message in several folders (Gmail's labels) is stored once: what that saves. */
const sharingLine = (s: Sharing) =>
  `bodies stored once for all their folders: ${s.contents}, ${megabytes(s.storedBytes)} stored for ${megabytes(s.referencedBytes)} in folders, ${megabytes(s.savedBytes)} saved by sharing`;

export function formatStats(stats: StatsResult): string {
  const out: string[] = [];
  for (const account of stats.accounts) {
    out.push(accountLabel(account));
    const rows = [['folder', 'bodies cached/messages', 'body bytes cached/all', 'headers and parts', 'last sync']];
    for (const f of [...account.folders, { folder: '(total)', ...account.totals, lastSync: null }]) {
      const lastSync = f.folder === '(total)' ? '' : (f.lastSync?.replace('T', ' ').slice(0, 19) ?? 'never');
      rows.push([f.folder, bodiesCell(f), bytesCell(f), megabytes(f.otherBytes), lastSync]);
    }
    out.push(table(rows), `  ${sharingLine(account.sharing)}`, '');
  }
  const t = stats.totals;
  out.push(`total: ${t.bodies}/${t.messages} bodies cached, ${megabytes(t.bodyBytes)}/${megabytes(t.totalBytes)}, and ${megabytes(t.otherBytes)} of headers and parts, in ${stats.accounts.length} account(s)`);
  out.push(`total ${sharingLine(stats.sharing)}`);
  return `${out.join('\n')}\n`;
}

export function formatStatus(status: StatusResult): string {
  const out = [
    `imap-cache-proxy ${status.version}, pid ${status.pid}, up ${status.uptimeSeconds} s`,
    `listening on ${status.listen}${status.tlsListen ? ` and ${status.tlsListen} (TLS)` : ''}; ${status.clients} client connection(s); RssAnon ${status.rssAnonMb} MB`,
    `TLS certificate ${status.tls.cert}, SHA-256 ${status.tls.fingerprint}`,
  ];
  for (const a of status.accounts) {
    const watching = a.watching ? ', one of them watching for changes' : '; not watching for changes';
    const connections = `${a.connections} upstream connection(s) of at most ${a.connectionLimit}${watching}`;
    out.push(`${accountLabel(a)}: ${a.loggedIn ? connections : `no client logged in since the start (at most ${a.connectionLimit} upstream connections)`}`);
    if (a.tokensRefused) out.push(`  login refused: ${a.tokensRefused}; run "imap-cache-proxy account login ${a.name}"`);
    if (a.connectionsLimited) out.push(`  upstream refused more connections: keeping to ${a.connectionsLimited.connections} until ${clock(a.connectionsLimited.until)}`);
    if (a.throttledSeconds) out.push(`  upstream asked to slow down: the account's upstream commands pause ${a.throttledSeconds} s more`);
    if (a.lockedOut) out.push(`  upstream locks the account out since ${clock(a.lockedOut.since)} ("${a.lockedOut.reason}"): cached mail is served, nothing is tried upstream until ${clock(a.lockedOut.until)}`);
    const d = a.downloaded;
    out.push(`  downloaded from upstream today (${d.day}): ${megabytes(d.bytes)}${d.budget === null ? '' : ` of the background sync's daily budget of ${megabytes(d.budget)}`}`);
    const c = a.cached;
    out.push(`  cached: ${c.bodies}/${c.messages} bodies (${percent(c.bodies, c.messages)}), ${bytesCell(c)}`);
    const p = a.prefetch;
    const sync = !p
      ? 'off'
      : `${p.mode === 'all' ? 'bodies' : 'headers'}, ${p.state}${p.folder ? ` in ${p.folder}` : ''}` +
        (p.state === 'running' ? `, ${megabytes(p.rate)}/s` : '') +
        (p.etaSeconds !== undefined ? `, about ${p.etaSeconds} s left` : '') +
        (p.resumesAt ? ` (the day's download budget is spent) until ${clock(p.resumesAt)}` : '');
    out.push(`  background sync: ${sync}`);
    const { cache, upstream, parts } = a.served;
    out.push(`  bodies served to clients: ${cache.bodies} from the cache (${megabytes(cache.bytes)}), ${upstream.bodies} fetched from upstream for them (${megabytes(upstream.bytes)})`);
    out.push(`  MIME parts served to clients: ${parts.cache} cut from cached bodies, ${parts.upstream} fetched from upstream`);
    out.push(`  upstream traffic since the start: ${megabytes(a.upstreamTraffic.read)} read, ${megabytes(a.upstreamTraffic.written)} written`);
  }
  return `${out.join('\n')}\n`;
}

export function formatVerify(result: VerifyResult): string {
  const out = [
    `checked ${result.sections} cached sections (${result.bodies} whole bodies, ${megabytes(result.bytes)}) ` +
      `and the ${result.contents} stored bodies they refer to (${megabytes(result.contentBytes)})`,
  ];
  for (const p of result.problems) out.push(`  ${p.user} ${p.folder} UID ${p.uid} ${p.section}: ${p.problem}`);
  if (result.problemCount > result.problems.length) out.push(`  ... and ${result.problemCount - result.problems.length} more`);
  out.push(
    `${result.problemCount} broken section(s), ${result.orphanChunks} unreferenced chunk(s), ${result.strayGenerations} folder generation(s) without a folder, ` +
      `${result.wrongRefCounts} wrong reference count(s)`,
  );
  if (result.staleMessageIds > 0) out.push(`${result.staleMessageIds} Gmail message id(s) noted for bodies no longer stored${result.repaired ? ': dropped' : ''}`);
  const found = result.problemCount + result.orphanChunks + result.strayGenerations + result.wrongRefCounts > 0;
  if (found) out.push(result.repaired ? 'repaired: all of it dropped; dropped bodies are fetched from upstream again' : 'run again with --repair to drop them');
  return `${out.join('\n')}\n`;
}
