import type { StatsResult, StatusResult, VerifyResult } from '../admin/protocol.js';

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n');
}

export function formatStats(stats: StatsResult): string {
  const out: string[] = [];
  for (const account of stats.accounts) {
    out.push(`${account.user} on ${account.upstream}`);
    const rows = [['folder', 'messages', 'bodies', 'size', 'last sync']];
    for (const f of account.folders) {
      rows.push([f.folder, String(f.messages), String(f.bodies), megabytes(f.bytes), f.lastSync?.replace('T', ' ').slice(0, 19) ?? 'never']);
    }
    rows.push(['(total)', String(account.totals.messages), String(account.totals.bodies), megabytes(account.totals.bytes), '']);
    out.push(table(rows), '');
  }
  const t = stats.totals;
  out.push(`total: ${t.messages} messages, ${t.bodies} bodies, ${megabytes(t.bytes)} in ${stats.accounts.length} account(s)`);
  return `${out.join('\n')}\n`;
}

export function formatStatus(status: StatusResult): string {
  const out = [
    `imap-cache-proxy ${status.version}, pid ${status.pid}, up ${status.uptimeSeconds} s`,
    `listening on ${status.listen}${status.tlsListen ? ` and ${status.tlsListen} (TLS)` : ''}; ${status.clients} client connection(s); RssAnon ${status.rssAnonMb} MB`,
  ];
  for (const a of status.accounts) {
    const p = a.prefetch;
    const prefetch = !p
      ? 'off'
      : `${p.state}${p.folder ? ` in ${p.folder}` : ''}, ${p.messagesDone}/${p.messagesTotal} messages, ${megabytes(p.bytesDone)}/${megabytes(p.bytesTotal)}` +
        (p.etaSeconds !== undefined && p.state === 'running' ? `, about ${p.etaSeconds} s left` : '');
    out.push(`${a.user} on ${a.upstream}: ${a.connections} upstream connection(s), ${a.watching ? 'watching for changes' : 'not watching'}; background sync ${prefetch}`);
    const { cache, upstream } = a.served;
    out.push(`  bodies served to clients: ${cache.bodies} from the cache (${megabytes(cache.bytes)}), ${upstream.bodies} fetched from upstream for them (${megabytes(upstream.bytes)})`);
  }
  return `${out.join('\n')}\n`;
}

export function formatVerify(result: VerifyResult): string {
  const out = [`checked ${result.sections} cached sections (${result.bodies} whole bodies, ${megabytes(result.bytes)})`];
  for (const p of result.problems) out.push(`  ${p.user} ${p.folder} UID ${p.uid} ${p.section}: ${p.problem}`);
  if (result.problemCount > result.problems.length) out.push(`  ... and ${result.problemCount - result.problems.length} more`);
  out.push(`${result.problemCount} broken section(s), ${result.orphanChunks} unreferenced chunk(s), ${result.strayGenerations} folder generation(s) without a folder`);
  const found = result.problemCount + result.orphanChunks + result.strayGenerations > 0;
  if (found) out.push(result.repaired ? 'repaired: all of it dropped; dropped bodies are fetched from upstream again' : 'run again with --repair to drop them');
  return `${out.join('\n')}\n`;
}
