/**
 * The proxy's settings, one table: the CLI flags, the config file keys and the environment
 * variables are all derived from it, so the three can never drift apart.
 */
export interface SettingSpec {
  /** Key in the validated config object. */
  readonly key: string;
  /** CLI flag without dashes, also the key in the TOML config file. */
  readonly name: string;
  /** Placeholder of the value, shown in --help; none for a switch (the bare flag turns it on). */
  readonly arg?: string;
  readonly description: string;
  /** A new value takes effect on SIGHUP; the others need a restart (and a reload says so). */
  readonly reloads?: true;
}

export const ENV_PREFIX = 'IMAP_CACHE_PROXY_';

export const START_SETTINGS = [
  { key: 'upstream', name: 'upstream', arg: 'URL', description: 'upstream server: imap://HOST:PORT (plain or STARTTLS as offered) or imaps://HOST:PORT (implicit TLS, verified)' },
  { key: 'upstreamCa', name: 'upstream-ca', arg: 'FILE', description: 'trust this CA or self-signed certificate (PEM) for the upstream server instead of the system CAs' },
  { key: 'upstreamInsecure', name: 'upstream-insecure', description: 'DANGEROUS: do not verify the upstream server certificate, so anyone on the way can read passwords and mail (default off)' },
  { key: 'listen', name: 'listen', arg: 'HOST:PORT', description: 'where IMAP clients connect (default 127.0.0.1:1143)' },
  { key: 'tlsListen', name: 'tls-listen', arg: 'HOST:PORT', description: 'also listen for clients over implicit TLS, e.g. 127.0.0.1:1993 (default: none; STARTTLS is offered on --listen)' },
  { key: 'tlsCert', name: 'tls-cert', arg: 'FILE', description: 'certificate (PEM) shown to clients; generated with its key when both are missing (default certs/localhost-cert.pem in the data directory)', reloads: true },
  { key: 'tlsKey', name: 'tls-key', arg: 'FILE', description: 'private key (PEM) of --tls-cert (default certs/localhost-key.pem in the data directory)', reloads: true },
  { key: 'data', name: 'data', arg: 'DIR', description: 'data directory: cache, admin socket (default: per-user data directory)' },
  { key: 'prefetch', name: 'prefetch', arg: 'off|headers|all', description: 'background sync of every folder after login: all = bodies too (default all)' },
  { key: 'prefetchMaxSize', name: 'prefetch-max-size', arg: 'SIZE', description: 'the background sync skips bodies larger than this, e.g. 25MB (default: no limit)' },
  { key: 'prefetchBudget', name: 'prefetch-budget', arg: 'SIZE', description: 'the background sync of an account pauses until the next day once the account downloaded this much mail that day, its clients\' fetches included, which are served past it, e.g. 2G (default: no limit; Gmail accounts 2G)' },
  { key: 'compress', name: 'compress', arg: 'auto|on|off', description: 'offer clients COMPRESS=DEFLATE; auto = on a listener that is not loopback, where the bytes cross a network (default auto)' },
  { key: 'upstreamConnections', name: 'upstream-connections', arg: 'N', description: 'upstream connections per account, 1-32 (default 4; an [[account]] may set its own; Gmail accounts at most 10 unless they do)' },
  { key: 'maxLineLength', name: 'max-line-length', arg: 'SIZE', description: 'longest command line a client may send, outside literals; a longer one gets BAD and is skipped (default 64K)' },
  { key: 'maxMessageSize', name: 'max-message-size', arg: 'SIZE', description: 'largest message a client may APPEND, announced as APPENDLIMIT (default 64MB, at least 1MB)' },
  { key: 'maxConnections', name: 'max-connections', arg: 'N', description: 'client connections at once, in total (default 500)' },
  { key: 'maxConnectionsPerIp', name: 'max-connections-per-ip', arg: 'N', description: 'client connections at once from one address; local clients all come from 127.0.0.1 (default 250)' },
  { key: 'idleTimeout', name: 'idle-timeout', arg: 'DURATION', description: 'close a client connection silent for this long, e.g. 30m; IDLE keeps it open (default 30m)' },
  { key: 'loginTimeout', name: 'login-timeout', arg: 'DURATION', description: 'close a client connection that has not logged in within this, e.g. 60s (default 60s)' },
  {
    key: 'pollInterval',
    name: 'poll-interval',
    arg: 'DURATION',
    description: 'without NOTIFY upstream: how often cached folders no client has open are asked for their STATUS, doubling up to 10m while nothing changes (default 1m)',
  },
  { key: 'logLevel', name: 'log-level', arg: 'LEVEL', description: 'fatal|error|warn|info|debug|trace (default info)', reloads: true },
] as const satisfies readonly SettingSpec[];

/**
 * The accounts: a list of tables in the config file only (`[[account]]`, each with its name,
 * upstream and TLS settings), which no flag or environment variable could carry.
 */
export const ACCOUNTS_SETTING = { key: 'accounts', name: 'account' } as const;

/** The settings a SIGHUP cannot change: a new value of one of them needs a restart. */
export const RESTART_SETTINGS = [
  ...(START_SETTINGS as readonly SettingSpec[]).filter((spec) => !spec.reloads).map((spec) => spec.key),
  ACCOUNTS_SETTING.key,
];

export function envName(spec: SettingSpec): string {
  return ENV_PREFIX + spec.name.toUpperCase().replace(/-/g, '_');
}
