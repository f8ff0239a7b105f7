import { dirname, join } from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_LOGIN_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_UPSTREAM_CONNECTIONS,
  MIN_MAX_LINE_LENGTH,
  MIN_MAX_MESSAGE_SIZE,
} from '../model/limits.js';
import type { UpstreamEndpoint } from '../model/types.js';
import { OAUTH_PRESETS, OAUTH_PROVIDER_NAMES, providerLimitsOf, SASL_MECHANISMS, type OAuthPreset, type OAuthSettings } from '../oauth/presets.js';

export function parseUpstreamUrl(value: string): UpstreamEndpoint {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not a URL; expected imap://HOST:PORT or imaps://HOST:PORT`);
  }
  if (url.protocol !== 'imap:' && url.protocol !== 'imaps:') {
    throw new Error(`unsupported scheme "${url.protocol}" in "${value}"; expected imap:// or imaps://`);
  }
  if (url.username || url.password) {
    throw new Error('the upstream URL must not contain credentials: clients log in with their own');
  }
  if (url.pathname.replace(/^\/+/, '') !== '' || url.search || url.hash) {
    throw new Error(`unexpected path or query in "${value}"; expected imap://HOST:PORT`);
  }
  const secure = url.protocol === 'imaps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : secure ? 993 : 143;
  return { secure, host, port, url: `${url.protocol}//${url.host}${url.port ? '' : `:${port}`}` };
}

export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new Error(`"${value}" is not HOST:PORT (e.g. 127.0.0.1:1143)`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** The smaller of two optional limits (none: no limit). */
const smallest = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

const withParser = <T>(parse: (value: string) => T) =>
  z.string().transform((value, ctx) => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };

/** A size in bytes, with an optional unit: 1048576, 512K, 25MB, 2G (units are powers of 1024). */
export function parseSize(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = SIZE_UNITS[(match?.[2] ?? '?').toUpperCase()];
  if (!match || unit === undefined) throw new Error(`"${value}" is not a size (e.g. 25MB, 512K, 1048576)`);
  return Math.round(Number(match[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** A duration in milliseconds: a number with a unit, 500ms, 60s, 30m (or 30min), 2h. */
function parseDuration(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value);
  const unit = DURATION_UNITS[(match?.[2] ?? '?').toLowerCase()];
  if (!match || unit === undefined) throw new Error(`"${value}" is not a duration (e.g. 30m, 60s, 500ms, 2h)`);
  return Math.round(Number(match[1]) * unit);
}

const SWITCH_WORDS: Record<string, boolean> = { true: true, yes: true, on: true, '1': true, false: false, no: false, off: false, '0': false };

/** A switch given as a word (environment variables, TOML strings): true/false, yes/no, on/off, 1/0. */
export function parseSwitch(value: string): boolean {
  const on = SWITCH_WORDS[value.trim().toLowerCase()];
  if (on === undefined) throw new Error(`"${value}" is neither true nor false (also accepted: yes/no, on/off, 1/0)`);
  return on;
}

/** The certificate and key for clients' TLS: by default in certs/ of the data directory. */
const TLS_CERT_NAME = 'localhost-cert.pem';
const TLS_KEY_NAME = 'localhost-key.pem';
/** Where versions before 0.2 generated them: certs/ of the package (schema.js is in dist/src/config/). */
export const EARLIER_TLS_DIR = join(import.meta.dirname, '../../../certs');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

// a bare flag or a TOML boolean gives true, the environment a word
const switchSetting = z.preprocess((value) => (typeof value === 'boolean' ? String(value) : value), withParser(parseSwitch)).default(false);
const INSECURE_WITH_CA = 'cannot be combined with an upstream CA (upstream-ca): either verify against that CA or do not verify at all';

const OAUTH_KEYS = ['issuer', 'provider', 'client-id', 'client-secret', 'scopes', 'sasl'] as const;

const upstreamConnections = z.coerce.number().int().min(1).max(32);

/**
 * One [[account]] table of the config file, keys as written there (so that errors name them).
 * `auth` says how the proxy logs in upstream: "password" passes the client's password through,
 * "oauth2" uses access tokens obtained with the refresh token that `account login` stored.
 */
const accountSchema = z
  .object({
    name: z.string('every account needs one: the user name clients log in with').min(1, 'must not be empty: it is the user name clients log in with'),
    upstream: withParser(parseUpstreamUrl).optional(),
    'upstream-ca': z.string().min(1).optional(),
    'upstream-insecure': switchSetting,
    'upstream-user': z.string().min(1).optional(),
    auth: z.enum(['password', 'oauth2']).default('password'),
    issuer: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an OpenID Connect issuer' }).optional(),
    provider: z.enum(OAUTH_PROVIDER_NAMES).optional(),
    'client-id': z.string().min(1).optional(),
    'client-secret': z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).min(1).optional(),
    sasl: z.enum(SASL_MECHANISMS).optional(),
    'upstream-connections': upstreamConnections.optional(),
    'prefetch-budget': withParser(parseSize).optional(),
  })
  .strict()
  .refine((account) => !(account['upstream-insecure'] && account['upstream-ca']), { path: ['upstream-insecure'], message: INSECURE_WITH_CA })
  .superRefine((account, ctx) => {
    if (account.auth === 'password') {
      for (const key of OAUTH_KEYS) {
        if (account[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'belongs to auth = "oauth2"; this account passes the password through' });
      }
      if (!account.upstream) ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'is needed: the account\'s server, imaps://HOST:PORT' });
      return;
    }
    if (!account['client-id']) ctx.addIssue({ code: 'custom', path: ['client-id'], message: 'is needed with auth = "oauth2": the client id of the app you registered with the provider' });
    if (!account.issuer === !account.provider) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: `give either issuer (an OpenID Connect issuer URL) or provider (${OAUTH_PROVIDER_NAMES.join(', ')}), not both` });
    }
    if (!account.upstream && !account.provider) ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'is needed without a provider preset: the account\'s server, imaps://HOST:PORT' });
  })
  .transform((account) => {
    const preset: OAuthPreset | undefined = account.provider ? OAUTH_PRESETS[account.provider] : undefined;
    const upstream = (account.upstream ?? preset?.upstream) as UpstreamEndpoint;
    return {
      name: account.name,
      upstream,
      upstreamCa: account['upstream-ca'],
      upstreamInsecure: account['upstream-insecure'],
      /** The user name upstream: the local name unless upstream-user says otherwise. */
      upstreamUser: account['upstream-user'] ?? account.name,
      auth: account.auth,
      /** Its own upstream-connections; without it the top-level one, within what its provider allows. */
      upstreamConnections: account['upstream-connections'],
      /** Its own prefetch-budget; without it the top-level one, within what its provider allows. */
      prefetchBudget: account['prefetch-budget'],
      /** Its provider's (the preset's, or Gmail's for any account on imap.gmail.com). */
      providerLimits: preset?.limits ?? providerLimitsOf(upstream),
      ...(account.auth === 'oauth2'
        ? {
            oauth: {
              server: preset ? { preset: preset.server } : { issuer: account.issuer as string },
              clientId: account['client-id'] as string,
              clientSecret: account['client-secret'],
              scopes: account.scopes ?? [...(preset?.scopes ?? ['openid', 'offline_access'])],
              ...((account.sasl ?? preset?.sasl) ? { sasl: account.sasl ?? preset?.sasl } : {}),
            } satisfies OAuthSettings,
          }
        : {}),
    };
  });


/** Each local name picks one account, and each upstream account has one local name (one cache). */
const accountsSchema = z.array(accountSchema, 'must be a list of [[account]] tables').superRefine((accounts, ctx) => {
  const names = new Map<string, number>();
  const upstreamAccounts = new Map<string, number>();
  accounts.forEach((account, i) => {
    const sameName = names.get(account.name);
    if (sameName !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${account.name}" is already the name of account #${sameName + 1}: each name picks one account` });
    names.set(account.name, i);
    if (!account.upstream) return; // reported by the account's own check, which zod does not stop at
    const upstreamAccount = `${account.upstream.url}\n${account.upstreamUser}`;
    const same = upstreamAccounts.get(upstreamAccount);
    if (same !== undefined) {
      ctx.addIssue({ code: 'custom', path: [i, 'upstream-user'], message: `user "${account.upstreamUser}" on ${account.upstream.url} is already account #${same + 1}: one upstream account, one name` });
    }
    upstreamAccounts.set(upstreamAccount, i);
  });
});

export const startConfigSchema = z
  .object({
    // one upstream for any login name (the single-account shortcut), or `accounts`
    upstream: withParser(parseUpstreamUrl).optional(),
    upstreamCa: z.string().min(1).optional(),
    upstreamInsecure: switchSetting,
    accounts: accountsSchema.default([]),
    listen: withParser(parseHostPort).default({ host: '127.0.0.1', port: 1143 }),
    tlsListen: withParser(parseHostPort).optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    data: z.string().min(1),
    prefetch: z.enum(['off', 'headers', 'all']).default('all'),
    compress: z.enum(['auto', 'on', 'off']).default('auto'),
    prefetchMaxSize: withParser(parseSize).optional(),
    prefetchBudget: withParser(parseSize).optional(),
    upstreamConnections: upstreamConnections.default(DEFAULT_UPSTREAM_CONNECTIONS),
    maxLineLength: withParser(parseSize)
      .pipe(z.number().min(MIN_MAX_LINE_LENGTH, `must be at least ${MIN_MAX_LINE_LENGTH} bytes`))
      .default(DEFAULT_MAX_LINE_LENGTH),
    maxMessageSize: withParser(parseSize)
      .pipe(z.number().min(MIN_MAX_MESSAGE_SIZE, 'must be at least 1MB (the mail server library accepts up to 1MB anyway)'))
      .default(DEFAULT_MAX_MESSAGE_SIZE),
    maxConnections: z.coerce.number().int().min(1).default(DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerIp: z.coerce.number().int().min(1).default(DEFAULT_MAX_CONNECTIONS_PER_IP),
    idleTimeout: withParser(parseDuration).pipe(z.number().min(1000, 'must be at least 1s')).default(DEFAULT_IDLE_TIMEOUT_MS),
    loginTimeout: withParser(parseDuration).pipe(z.number().min(1000, 'must be at least 1s')).default(DEFAULT_LOGIN_TIMEOUT_MS),
    pollInterval: withParser(parseDuration).pipe(z.number().min(1000, 'must be at least 1s')).default(DEFAULT_POLL_INTERVAL_MS),
    logLevel: z.enum(LOG_LEVELS).default('info'),
  })
  .strict()
  .refine((config) => !(config.upstreamInsecure && config.upstreamCa), { path: ['upstreamInsecure'], message: INSECURE_WITH_CA })
  .superRefine((config, ctx) => {
    if (config.accounts.length === 0) return;
    const fix = 'with [[account]] tables each account names its own upstream';
    if (config.upstream) {
      ctx.addIssue({ code: 'custom', path: ['upstream'], message: `cannot be combined with [[account]] tables: ${fix}; remove this one, or remove the [[account]] tables` });
    }
    for (const key of ['upstreamCa', 'upstreamInsecure'] as const) {
      if (config[key]) ctx.addIssue({ code: 'custom', path: [key], message: `belongs to the single upstream: ${fix}, so give it in the accounts that need it` });
    }
  })
  .transform(({ tlsCert, tlsKey, ...config }) => {
    const own = tlsCert !== undefined || tlsKey !== undefined;
    const certs = join(config.data, 'certs');
    // the single upstream: its settings are the account's own; a budget not given is its provider's (Gmail's)
    const prefetchBudget = config.prefetchBudget ?? providerLimitsOf(config.upstream)?.prefetchBudget;
    return {
      ...config,
      ...(prefetchBudget !== undefined ? { prefetchBudget } : {}),
      // each account's settings: its own, else the top-level ones kept within its provider's limits
      accounts: config.accounts.map(({ providerLimits, ...account }) => ({
        ...account,
        upstreamConnections: account.upstreamConnections ?? Math.min(config.upstreamConnections, providerLimits?.upstreamConnections ?? Infinity),
        prefetchBudget: account.prefetchBudget ?? smallest(config.prefetchBudget, providerLimits?.prefetchBudget),
      })),
      tlsCert: tlsCert ?? join(tlsKey !== undefined ? dirname(tlsKey) : certs, TLS_CERT_NAME),
      tlsKey: tlsKey ?? join(tlsCert !== undefined ? dirname(tlsCert) : certs, TLS_KEY_NAME),
      /** The default pair is taken over from where an earlier version generated it, if it is there. */
      tlsAdoptFrom: own ? undefined : { certPath: join(EARLIER_TLS_DIR, TLS_CERT_NAME), keyPath: join(EARLIER_TLS_DIR, TLS_KEY_NAME) },
    };
  });

export type StartConfig = z.output<typeof startConfigSchema>;
export type AccountConfig = StartConfig['accounts'][number];
