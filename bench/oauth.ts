// The oauth scenario: an OAuth2 account whose provider (oidc-provider) issues 60-second access
// tokens, Dovecot checking each login's token by introspection, and the proxy (at debug level)
// pulled by mbsync again and again for some minutes. Before each pull a few new messages arrive
// and Dovecot drops every session of the user (`doveadm kick`, as a server restart or a network
// change would): every pull needs new upstream logins, so tokens expire between them and must
// have been refreshed in time. Each pull is compared with one straight from Dovecot.
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { accountLogin, writeAccountsConfig } from '../test/support/account-login.js';
import { startDovecot } from '../test/support/dovecot.js';
import { deliver } from '../test/support/maildir.js';
import { maildirDigests, mbsyncPull } from '../test/support/mbsync.js';
import { introspectionBy, startOidcServer } from '../test/support/oidc-server.js';
import { smallMessages } from '../test/support/small-messages.js';
import { startProxyProcess } from './proxy-process.js';
import { log, round } from './util.js';

export interface OAuthResults {
  minutes: number;
  accessTokenSeconds: number;
  /** Messages upstream at the start, and at the end. */
  messages: { first: number; last: number };
  pulls: number;
  /** Pulls through the proxy that equalled the pull straight from Dovecot after it. */
  identicalPulls: number;
  /** Pulls that failed, pulls that differed, and error lines the proxy logged. */
  errors: number;
  failedPulls: string[];
  proxyErrorLines: string[];
  /** The proxy's warnings, by message, with how often each came. */
  proxyWarnings: Record<string, number>;
  /** `access token refreshed` lines in the proxy's log, and the refresh grants the provider answered. */
  refreshesLogged: number;
  refreshesAtProvider: number;
  /** Logins upstream refused an access token at, which the proxy then retried with a new one. */
  tokensRetried: number;
  /** Dovecot's log: logins with a token, and those it refused. */
  upstreamTokenLogins: number;
  upstreamRefusals: number;
  peakRssAnonMb: number;
}

const ACCESS_TOKEN_SECONDS = 60;
/** A pull starts every this many seconds (a pull of the corpus takes well under that). */
const ROUND_SECONDS = 10;
const NEW_MESSAGES_PER_ROUND = 3;
const LOCAL_PASSWORD = 'bench-local-password';
const USER = 'test';

export async function oauthScenario(options: { minutes: number; freshDir: () => string }): Promise<OAuthResults> {
  log(`\n== oauth: ${ACCESS_TOKEN_SECONDS}-second access tokens, an mbsync pull every ${ROUND_SECONDS} s for ${options.minutes} min, upstream sessions dropped before each`);
  const oidc = await startOidcServer({ user: USER, accessTokenSeconds: ACCESS_TOKEN_SECONDS });
  const dovecot = await startDovecot({ oauth2: introspectionBy(oidc) });
  try {
    let messages = 0;
    const arrive = async (folder: string, count: number) => {
      messages += (await deliver(dovecot.mailDir(), smallMessages(folder, count, messages))).messages;
    };
    await arrive('INBOX', 300);
    await arrive('Archive', 100);
    const first = messages;
    const data = options.freshDir();
    const configDir = options.freshDir();
    await mkdir(configDir, { recursive: true });
    const configPath = path.join(configDir, 'config.toml');
    await writeAccountsConfig(configPath, data, [{ name: USER, auth: 'oauth2', issuer: oidc.issuer, 'client-id': oidc.clientId, upstream: `imap://127.0.0.1:${dovecot.port}` }]);
    await accountLogin(configPath, USER, LOCAL_PASSWORD, 'device');

    const proxy = await startProxyProcess(['--config', configPath, '--log-level', 'debug']);
    const counts = { refreshes: 0, retried: 0 };
    const warnings: Record<string, number> = {};
    const errorLines: string[] = [];
    const stopReading = proxy.onLine((line) => {
      let entry: { level?: number; msg?: string; err?: { message?: string } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return; // oidc-provider's or Node's own notices
      }
      if (entry.msg === 'access token refreshed') counts.refreshes++;
      if (/refused the access token/.test(entry.msg ?? '')) counts.retried++;
      if (entry.level === 40) warnings[entry.msg ?? ''] = (warnings[entry.msg ?? ''] ?? 0) + 1;
      if ((entry.level ?? 0) >= 50) errorLines.push(`${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`);
    });
    const failedPulls: string[] = [];
    let pulls = 0;
    let identical = 0;
    const deadline = performance.now() + options.minutes * 60_000;
    try {
      while (performance.now() < deadline) {
        const roundStart = performance.now();
        await arrive('INBOX', NEW_MESSAGES_PER_ROUND);
        await dovecot.kick(USER);
        const through = options.freshDir();
        const straight = options.freshDir();
        pulls++;
        try {
          await mbsyncPull(proxy.port, through, USER, LOCAL_PASSWORD);
          await mbsyncPull(dovecot.port, straight, USER, 'pass');
          const got = await maildirDigests(through);
          const expected = await maildirDigests(straight);
          if (JSON.stringify(got) === JSON.stringify(expected)) identical++;
          else failedPulls.push(`pull #${pulls}: differs from the pull straight from Dovecot`);
        } catch (err) {
          failedPulls.push(`pull #${pulls}: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
        }
        await rm(through, { recursive: true, force: true });
        await rm(straight, { recursive: true, force: true });
        if (pulls % 6 === 0) log(`  ${pulls} pulls, ${identical} identical, ${counts.refreshes} token refreshes so far`);
        await sleep(Math.max(0, roundStart + ROUND_SECONDS * 1000 - performance.now()));
      }
    } finally {
      stopReading();
      await proxy.stop();
    }
    const upstreamLog = (await readFile(dovecot.logPath, 'utf8')).split('\n');
    const result: OAuthResults = {
      minutes: options.minutes,
      accessTokenSeconds: ACCESS_TOKEN_SECONDS,
      messages: { first, last: messages },
      pulls,
      identicalPulls: identical,
      errors: failedPulls.length + errorLines.length,
      failedPulls: failedPulls.slice(0, 5),
      proxyErrorLines: errorLines.slice(0, 5),
      proxyWarnings: warnings,
      refreshesLogged: counts.refreshes,
      refreshesAtProvider: oidc.refreshes(),
      tokensRetried: counts.retried,
      upstreamTokenLogins: upstreamLog.filter((line) => new RegExp(`Login: user=<${USER}>, method=(OAUTHBEARER|XOAUTH2)`).test(line)).length,
      upstreamRefusals: upstreamLog.filter((line) => line.includes(`user=<${USER}>`) && /auth failed/.test(line)).length,
      peakRssAnonMb: round(proxy.peakRssAnonMb(), 1),
    };
    log(
      `  ${result.pulls} pulls (${result.identicalPulls} identical), ${result.errors} errors; token refreshes: ${result.refreshesLogged} in the log, ${result.refreshesAtProvider} at the provider; ` +
        `${result.upstreamTokenLogins} upstream logins with a token, ${result.upstreamRefusals} refused, ${result.tokensRetried} retried; peak RssAnon ${result.peakRssAnonMb} MB`,
    );
    for (const line of [...result.failedPulls, ...result.proxyErrorLines]) log(`    ${line}`);
    for (const [message, times] of Object.entries(warnings)) log(`    warning ${times}x: ${message}`);
    return result;
  } finally {
    await dovecot.destroy();
    await oidc.close();
  }
}

export function oauthMarkdown(r: OAuthResults): string[] {
  return [
    `## OAuth2 account, ${r.accessTokenSeconds}-second access tokens: an mbsync pull every ${ROUND_SECONDS} s for ${r.minutes} min, upstream sessions dropped before each`,
    '',
    '| messages | pulls | identical to Dovecot | errors | token refreshes (proxy log / provider) | upstream logins with a token | refused (retried) | peak RssAnon (MB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${r.messages.first} to ${r.messages.last} | ${r.pulls} | ${r.identicalPulls} | ${r.errors} | ${r.refreshesLogged} / ${r.refreshesAtProvider} | ${r.upstreamTokenLogins} | ${r.upstreamRefusals} (${r.tokensRetried}) | ${r.peakRssAnonMb} |`,
  ];
}
