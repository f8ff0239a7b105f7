// An OAuth2 account set up as a user does it: a config file with its [[account]] table, then
// `imap-cache-proxy account login NAME` with the user's steps in the browser done over HTTP.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { approveDevice, browse } from './oidc-server.js';
import { CLI } from './proxy.js';

/** A config file with `data` and one [[account]] table per entry, e.g. { name: 'test', auth: 'oauth2', issuer: ... }. */
export async function writeAccountsConfig(file: string, dataDir: string, accounts: Record<string, string>[]): Promise<void> {
  const tables = accounts.map((account) => `[[account]]\n${Object.entries(account).map(([key, value]) => `${key} = ${JSON.stringify(value)}`).join('\n')}\n`);
  await writeFile(file, `data = ${JSON.stringify(dataDir)}\n${tables.join('')}`);
}

/**
 * `account login NAME --config FILE --device|--browser` with the local password in its
 * environment; the user approves the printed code (device flow) or signs in at the printed URL
 * (browser). Resolves with its output once it exited with status 0 and said it signed in.
 */
export async function accountLogin(configPath: string, name: string, localPassword: string, flow: 'device' | 'browser'): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(CLI, ['account', 'login', name, '--config', configPath, `--${flow}`], { env: { ...process.env, IMAP_CACHE_PROXY_LOCAL_PASSWORD: localPassword } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const prompt = flow === 'device' ? /open (\S+) and enter the code (\S+)/ : /sign in at (\S+)/;
  const found = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = prompt.exec(stdout);
      if (match) resolve(match);
    });
    void exited.then(() => reject(new Error(`account login ended: ${stdout}${stderr}`)));
  });
  if (flow === 'device') await approveDevice(found[1] as string, found[2] as string);
  else if (!/received the sign-in/.test(await browse(found[1] as string))) throw new Error('the browser sign-in did not come back to account login');
  const code = await exited;
  if (code !== 0 || !/Signed in/.test(stdout)) throw new Error(`account login exited with ${code}: ${stdout}${stderr}`);
  return { stdout, stderr };
}
