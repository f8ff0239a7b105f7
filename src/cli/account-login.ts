import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ENV_PREFIX } from '../config/options.js';
import { loadStartConfig } from '../config/load.js';
import { ProxyError } from '../model/errors.js';
import { browserGrant, defaultFlow, deviceGrant, providerConfiguration } from '../oauth/oauth-client.js';
import { accountIdOf } from '../sync/account-directory.js';
import { TokenVault, vaultPath } from '../sync/token-vault.js';

/** For scripts: the local password from the environment (else stdin when it is not a terminal, else asked twice). */
const LOCAL_PASSWORD_ENV = `${ENV_PREFIX}LOCAL_PASSWORD`;

export interface AccountLoginFlags {
  config?: string;
  data?: string;
  /** The authorization code flow in a browser, also when the provider has the device flow. */
  browser?: boolean;
  device?: boolean;
}

/**
 * `imap-cache-proxy account login NAME`: the device authorization grant (RFC 8628) or the
 * authorization code flow with PKCE and a loopback redirect (RFC 8252) gets the first tokens;
 * the refresh token is sealed with the local password the mail client will log in with. A
 * running proxy takes the new tokens at the next client login.
 */
export async function accountLogin(name: string, flags: AccountLoginFlags): Promise<number> {
  const config = await loadStartConfig({ flags: { config: flags.config, data: flags.data }, env: process.env });
  const account = config.accounts.find((a) => a.name === name);
  if (!account) throw new ProxyError('CONFIG_INVALID', `no [[account]] is named "${name}" (${config.accounts.map((a) => `"${a.name}"`).join(', ') || 'none configured'})`);
  if (!account.oauth) throw new ProxyError('CONFIG_INVALID', `account "${name}" has auth = "password": clients log in with the password of the mail server, nothing to store`);
  const password = await localPassword();
  const provider = await providerConfiguration(account.oauth);
  const flow = flags.browser ? 'browser' : flags.device ? 'device' : defaultFlow(provider);
  const tokens =
    flow === 'device'
      ? await deviceGrant(provider, account.oauth.scopes, (prompt) => {
          process.stdout.write(`To let the proxy read the mail of "${name}", open ${prompt.verificationUri} and enter the code ${prompt.userCode}\n`);
          if (prompt.verificationUriComplete) process.stdout.write(`(or open ${prompt.verificationUriComplete})\n`);
          process.stdout.write(`Waiting for your approval (the code expires in ${Math.round(prompt.expiresInSeconds / 60)} min)...\n`);
        })
      : await browserGrant(provider, account.oauth.scopes, (url) => {
          process.stdout.write(`To let the proxy read the mail of "${name}", sign in at ${url}\nWaiting for the browser to come back...\n`);
          if (process.stdout.isTTY) openBrowser(url);
        });
  if (!tokens.refreshToken) {
    throw new ProxyError('UPSTREAM_TOKEN_REFUSED', 'the provider gave no refresh token: the scopes need to ask for offline access (offline_access with most providers)');
  }
  const path = vaultPath(config.data, accountIdOf({ endpoint: account.upstream, upstreamUser: account.upstreamUser }));
  await TokenVault.create(path, password, { refreshToken: tokens.refreshToken, ...(tokens.scope ? { scope: tokens.scope } : {}), obtainedAt: Date.now() });
  process.stdout.write(`Signed in. The tokens of "${name}" are stored in ${path}, sealed with the local password: log in to the proxy as "${name}" with it.\n`);
  return 0;
}

async function localPassword(): Promise<string> {
  const fromEnv = process.env[LOCAL_PASSWORD_ENV];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) return nonEmpty((await text(process.stdin)).split(/\r?\n/)[0] ?? '');
  const first = nonEmpty(await askHidden('Local password (your mail client logs in to the proxy with it): '));
  if ((await askHidden('The same again: ')) !== first) throw new ProxyError('CONFIG_INVALID', 'the two passwords differ: nothing stored');
  return first;
}

function nonEmpty(password: string): string {
  if (!password) throw new ProxyError('CONFIG_INVALID', 'the local password must not be empty');
  return password;
}

/** Opens the URL in the desktop's browser, if there is one; the URL is printed anyway. */
function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

/** Reads a line from the terminal without echoing it. */
async function askHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const lines = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await lines.question('');
  } finally {
    lines.close();
    process.stderr.write('\n');
  }
}
