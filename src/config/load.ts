import { readFile } from 'node:fs/promises';
import envPaths from 'env-paths';
import { parse as parseToml } from 'smol-toml';
import { ProxyError } from '../model/errors.js';
import { START_SETTINGS, envName, ENV_PREFIX, type SettingSpec } from './options.js';
import { startConfigSchema, type StartConfig } from './schema.js';

export interface ConfigSources {
  /** Values from the command line, keyed by setting key (commander's camelCase). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
}

/** The per-user data directory, e.g. ~/.local/share/imap-cache-proxy on Linux. */
export function defaultDataDir(): string {
  return envPaths('imap-cache-proxy', { suffix: '' }).data;
}

const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;

/**
 * Resolves the settings of `start`: command line over environment over config file over
 * defaults. Errors name where the bad value came from.
 */
export async function loadStartConfig(sources: ConfigSources): Promise<StartConfig> {
  const configPath = (sources.flags['config'] as string | undefined) ?? sources.env[CONFIG_ENV];
  const fileValues = configPath ? await readConfigFile(configPath) : {};
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const spec of START_SETTINGS as readonly SettingSpec[]) {
    const fromFlag = sources.flags[spec.key];
    const fromEnv = sources.env[envName(spec)];
    const fromFile = fileValues[spec.name];
    if (fromFlag !== undefined) {
      merged[spec.key] = fromFlag;
      origin[spec.key] = `--${spec.name}`;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      merged[spec.key] = fromEnv;
      origin[spec.key] = envName(spec);
    } else if (fromFile !== undefined) {
      merged[spec.key] = typeof fromFile === 'number' ? String(fromFile) : fromFile;
      origin[spec.key] = `"${spec.name}" in ${configPath}`;
    }
  }
  merged['data'] ??= defaultDataDir();
  if (merged['upstream'] === undefined) {
    throw new ProxyError('CONFIG_INVALID', `no upstream server: give --upstream imaps://HOST:PORT (or ${envName(START_SETTINGS[0])}, or "upstream" in a config file)`);
  }
  const result = startConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `${origin[key] ?? key}: ${issue.message}`;
    });
    throw new ProxyError('CONFIG_INVALID', `invalid settings: ${problems.join('; ')}`);
  }
  return result.data;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
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
  const known = new Set<string>(START_SETTINGS.map((s) => s.name));
  const unknown = Object.keys(values).filter((key) => !known.has(key));
  if (unknown.length) {
    throw new ProxyError('CONFIG_INVALID', `config file ${path}: unknown setting(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  }
  return values;
}
