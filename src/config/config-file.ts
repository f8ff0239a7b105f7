import { readFile } from 'node:fs/promises';
import envPaths from 'env-paths';
import { parse as parseToml } from 'smol-toml';
import { ProxyError } from '../model/errors.js';
import { ACCOUNTS_SETTING, ENV_PREFIX, START_SETTINGS } from './options.js';

/*
 * The config file and the data directory, without the validation of `start` (config/load.ts):
 * what the admin commands need to find the proxy, and no more (they start faster).
 */

export const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;

/** The per-user data directory, e.g. ~/.local/share/imap-cache-proxy on Linux. */
export function defaultDataDir(): string {
  return envPaths('imap-cache-proxy', { suffix: '' }).data;
}

const DATA_ENV = `${ENV_PREFIX}DATA`;

/**
 * The data directory an admin command works on, found as `start` finds it: --data, else the
 * environment, else `data` in the config file (--config or its variable), else the default.
 * `from` says which, for messages that name the fix.
 */
export async function resolveDataDir(sources: { flags: { data?: string; config?: string }; env: NodeJS.ProcessEnv }): Promise<{ dir: string; from: string }> {
  if (sources.flags.data) return { dir: sources.flags.data, from: '--data' };
  const fromEnv = sources.env[DATA_ENV];
  if (fromEnv) return { dir: fromEnv, from: DATA_ENV };
  const configPath = sources.flags.config ?? sources.env[CONFIG_ENV];
  const fromFile = configPath ? (await readConfigFile(configPath))['data'] : undefined;
  if (typeof fromFile === 'string' && fromFile) return { dir: fromFile, from: `"data" in ${configPath}` };
  return { dir: defaultDataDir(), from: 'the default data directory' };
}

/** A config file's settings by name; unknown names and bad TOML are errors that name the file. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProxyError('CONFIG_INVALID', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let values: Record<string, unknown>;
  try {
    values = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ProxyError('CONFIG_INVALID', `config file ${path} is not valid TOML: ${(err as Error).message}`, { cause: err });
  }
  const known = new Set<string>([...START_SETTINGS.map((s) => s.name), ACCOUNTS_SETTING.name]);
  const unknown = Object.keys(values).filter((key) => !known.has(key));
  if (unknown.length) {
    throw new ProxyError('CONFIG_INVALID', `config file ${path}: unknown setting(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  }
  return values;
}
