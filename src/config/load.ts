import { ProxyError } from '../model/errors.js';
import { CONFIG_ENV, defaultDataDir, readConfigFile } from './config-file.js';
import { ACCOUNTS_SETTING, START_SETTINGS, envName, type SettingSpec } from './options.js';
import { startConfigSchema, type StartConfig } from './schema.js';

export interface ConfigSources {
  /** Values from the command line, keyed by setting key (commander's camelCase). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
}

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
  const accounts = fileValues[ACCOUNTS_SETTING.name];
  if (accounts !== undefined) {
    merged[ACCOUNTS_SETTING.key] = accounts;
    origin[ACCOUNTS_SETTING.key] = `[[${ACCOUNTS_SETTING.name}]] in ${configPath}`;
  }
  if (merged['upstream'] === undefined && accounts === undefined) {
    throw new ProxyError(
      'CONFIG_INVALID',
      `no upstream server: give --upstream imaps://HOST:PORT (or ${envName(START_SETTINGS[0])}, or "upstream" in a config file), or [[${ACCOUNTS_SETTING.name}]] tables in a config file`,
    );
  }
  const result = startConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const [key, index, field] = issue.path.map(String);
      if (key === ACCOUNTS_SETTING.key && index !== undefined) return `${accountOrigin(accounts, Number(index), configPath)}${field ? `, "${field}"` : ''}: ${issue.message}`;
      return `${origin[key ?? ''] ?? key}: ${issue.message}`;
    });
    throw new ProxyError('CONFIG_INVALID', `invalid settings: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Names an [[account]] table in an error: by its name when it has one, and by its place in the file. */
function accountOrigin(accounts: unknown, index: number, configPath: string | undefined): string {
  const name = (Array.isArray(accounts) ? (accounts[index] as { name?: unknown } | undefined) : undefined)?.name;
  const which = `#${index + 1} [[${ACCOUNTS_SETTING.name}]] in ${configPath}`;
  return typeof name === 'string' && name ? `account "${name}" (${which})` : `account ${which}`;
}
