import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultDataDir } from '../../src/config/config-file.js';
import { loadStartConfig } from '../../src/config/load.js';
import { RESTART_SETTINGS, START_SETTINGS } from '../../src/config/options.js';
import { EARLIER_TLS_DIR, parseHostPort, parseSize, parseSwitch, parseUpstreamUrl } from '../../src/config/schema.js';
import { isProxyError } from '../../src/model/errors.js';
import { DEFAULT_UPSTREAM_CONNECTIONS } from '../../src/model/limits.js';
import { OAUTH_PRESETS } from '../../src/oauth/presets.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'icp-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes a config file into the temp directory and returns its path. */
async function configFile(text: string): Promise<string> {
  const path = join(dir, `config-${++files}.toml`);
  await writeFile(path, text);
  return path;
}

const load = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadStartConfig({ flags, env });

/** Asserts a CONFIG_INVALID rejection whose message matches every pattern (a string: contains it). */
async function assertRejects(promise: Promise<unknown>, ...patterns: (RegExp | string)[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isProxyError(err, 'CONFIG_INVALID'), `not a CONFIG_INVALID ProxyError: ${String(err)}`);
    for (const pattern of patterns) {
      if (typeof pattern === 'string') assert.ok(err.message.includes(pattern), `${JSON.stringify(pattern)} not in: ${err.message}`);
      else assert.match(err.message, pattern);
    }
    return true;
  });
}

test('only the log level and the TLS certificate change on SIGHUP; every other setting needs a restart', () => {
  assert.deepEqual(
    START_SETTINGS.map((spec) => spec.key).filter((key) => !RESTART_SETTINGS.includes(key)),
    ['tlsCert', 'tlsKey', 'logLevel'],
  );
  for (const key of ['upstream', 'upstreamCa', 'upstreamInsecure', 'data']) assert.ok(RESTART_SETTINGS.includes(key), key);
});

describe('loadStartConfig', () => {
  test('defaults for everything but the upstream', async () => {
    assert.deepEqual(await load({ upstream: 'imaps://mail.example.com' }), {
      upstream: { secure: true, host: 'mail.example.com', port: 993, url: 'imaps://mail.example.com:993' },
      upstreamInsecure: false,
      accounts: [],
      listen: { host: '127.0.0.1', port: 1143 },
      tlsCert: join(defaultDataDir(), 'certs', 'localhost-cert.pem'),
      tlsKey: join(defaultDataDir(), 'certs', 'localhost-key.pem'),
      tlsAdoptFrom: { certPath: join(EARLIER_TLS_DIR, 'localhost-cert.pem'), keyPath: join(EARLIER_TLS_DIR, 'localhost-key.pem') },
      data: defaultDataDir(),
      prefetch: 'all',
      compress: 'auto',
      upstreamConnections: DEFAULT_UPSTREAM_CONNECTIONS,
      maxLineLength: 64 * 1024,
      maxMessageSize: 64 * 1024 * 1024,
      maxConnections: 500,
      maxConnectionsPerIp: 250,
      idleTimeout: 30 * 60_000,
      loginTimeout: 60_000,
      pollInterval: 60_000,
      logLevel: 'info',
    });
  });

  test('flags over environment over config file over defaults, setting by setting', async () => {
    const config = await configFile(
      [
        'upstream = "imap://file.example:143"',
        'listen = "127.0.0.1:2000"',
        'data = "/from/file"',
        'prefetch = "all"',
        'upstream-connections = 2',
        'log-level = "debug"',
      ].join('\n'),
    );
    const env = {
      IMAP_CACHE_PROXY_UPSTREAM: 'imaps://env.example',
      IMAP_CACHE_PROXY_LISTEN: '127.0.0.1:3000',
      IMAP_CACHE_PROXY_PREFETCH: 'headers',
      IMAP_CACHE_PROXY_LOG_LEVEL: '', // empty: not set
    };
    const result = await load({ config, upstream: 'imaps://flag.example:1993', upstreamConnections: '7' }, env);
    assert.equal(result.upstream?.url, 'imaps://flag.example:1993');
    assert.deepEqual(result.listen, { host: '127.0.0.1', port: 3000 });
    assert.equal(result.prefetch, 'headers');
    assert.equal(result.upstreamConnections, 7);
    assert.equal(result.data, '/from/file');
    assert.equal(result.logLevel, 'debug');
  });

  test('the config file path comes from --config, else from IMAP_CACHE_PROXY_CONFIG', async () => {
    const fromFlag = await configFile('upstream = "imaps://flag-file.example"');
    const fromEnv = await configFile('upstream = "imaps://env-file.example"');
    const env = { IMAP_CACHE_PROXY_CONFIG: fromEnv };
    assert.equal((await load({}, env)).upstream?.host, 'env-file.example');
    assert.equal((await load({ config: fromFlag }, env)).upstream?.host, 'flag-file.example');
  });

  test('a missing upstream is an error that says how to give one', async () => {
    await assertRejects(load({}), /no upstream server/, /--upstream/);
    await assertRejects(load({}, { IMAP_CACHE_PROXY_UPSTREAM: '' }), /no upstream server/);
  });

  test('an invalid value is reported with its source: flag, environment variable or file key', async () => {
    await assertRejects(load({ upstream: 'ftp://x.example' }), /--upstream: unsupported scheme "ftp:"/);
    await assertRejects(
      load({ upstream: 'imaps://x.example' }, { IMAP_CACHE_PROXY_LISTEN: '1143' }),
      /IMAP_CACHE_PROXY_LISTEN: "1143" is not HOST:PORT/,
    );
    const config = await configFile('upstream = "imaps://x.example"\nprefetch = "sometimes"\nupstream-connections = 0');
    await assertRejects(load({ config }), `"prefetch" in ${config}: `, `"upstream-connections" in ${config}: `);
  });

  test('numbers and log levels are checked', async () => {
    const upstream = 'imaps://x.example';
    await assertRejects(load({ upstream, upstreamConnections: '33' }), /--upstream-connections/);
    await assertRejects(load({ upstream, upstreamConnections: '2.5' }), /--upstream-connections/);
    await assertRejects(load({ upstream }, { IMAP_CACHE_PROXY_UPSTREAM_CONNECTIONS: 'many' }), /IMAP_CACHE_PROXY_UPSTREAM_CONNECTIONS/);
    await assertRejects(load({ upstream, logLevel: 'verbose' }), /--log-level/);
  });

  test('TLS settings: listener, certificate files, upstream CA; the certificate defaults to certs/ in the data directory', async () => {
    assert.match(EARLIER_TLS_DIR, /[/\\]certs$/);
    const defaults = await load({ upstream: 'imaps://x.example', data: '/d' });
    assert.deepEqual([defaults.tlsCert, defaults.tlsKey], ['/d/certs/localhost-cert.pem', '/d/certs/localhost-key.pem']);
    const result = await load({ upstream: 'imaps://x.example', tlsListen: '127.0.0.1:1993', tlsCert: '/c.pem', tlsKey: '/k.pem', upstreamCa: '/ca.pem' });
    assert.deepEqual(result.tlsListen, { host: '127.0.0.1', port: 1993 });
    assert.deepEqual([result.tlsCert, result.tlsKey, result.upstreamCa, result.upstreamInsecure], ['/c.pem', '/k.pem', '/ca.pem', false]);
    assert.equal(result.tlsAdoptFrom, undefined, 'a pair of the user\'s own takes nothing over');
    // one of the two given: the other is beside it
    assert.equal((await load({ upstream: 'imaps://x.example', tlsCert: '/etc/p/c.pem' })).tlsKey, '/etc/p/localhost-key.pem');
    await assertRejects(load({ upstream: 'imaps://x.example', tlsListen: '1993' }), /--tls-listen: "1993" is not HOST:PORT/);
  });

  test('upstream-insecure is a switch: a bare flag, a TOML boolean or a word in the environment', async () => {
    const upstream = 'imaps://x.example';
    assert.equal((await load({ upstream, upstreamInsecure: true })).upstreamInsecure, true);
    assert.equal((await load({ upstream }, { IMAP_CACHE_PROXY_UPSTREAM_INSECURE: 'yes' })).upstreamInsecure, true);
    assert.equal((await load({ upstream }, { IMAP_CACHE_PROXY_UPSTREAM_INSECURE: '0' })).upstreamInsecure, false);
    const config = await configFile(`upstream = "${upstream}"\nupstream-insecure = true`);
    assert.equal((await load({ config })).upstreamInsecure, true);
    await assertRejects(load({ upstream }, { IMAP_CACHE_PROXY_UPSTREAM_INSECURE: 'maybe' }), /IMAP_CACHE_PROXY_UPSTREAM_INSECURE: "maybe" is neither true nor false/);
    await assertRejects(load({ upstream, upstreamInsecure: true, upstreamCa: '/ca.pem' }), /--upstream-insecure: cannot be combined with an upstream CA/);
  });

  test('unknown keys in the config file are rejected, naming them', async () => {
    const config = await configFile('upstream = "imaps://x.example"\nlisten-port = 1143\nupstreamConnections = 2');
    await assertRejects(load({ config }), /unknown setting\(s\) listen-port, upstreamConnections/);
  });

  test('a config file that is not TOML, or is missing, is an error naming the file', async () => {
    const config = await configFile('upstream = imaps://unquoted');
    await assertRejects(load({ config }), `config file ${config} is not valid TOML`);
    const missing = join(dir, 'does-not-exist.toml');
    await assertRejects(load({ config: missing }), `cannot read config file ${missing}`);
  });

  test('an IPv6 listen address in brackets', async () => {
    const result = await load({ upstream: 'imap://[::1]:143', listen: '[::1]:1143' });
    assert.deepEqual(result.listen, { host: '::1', port: 1143 });
    assert.equal(result.upstream?.host, '::1');
  });
});

describe('[[account]] tables', () => {
  const accountsFile = (...accounts: string[]) => configFile(accounts.map((account) => `[[account]]\n${account}`).join('\n'));

  test('each account: its name, upstream, TLS settings and upstream user (the name by default); auth is the password', async () => {
    const config = await accountsFile(
      'name = "alice"\nupstream = "imaps://mail.example.com"',
      'name = "bob"\nupstream = "imap://other.example:1143"\nupstream-user = "robert@other.example"\nupstream-insecure = true\nauth = "password"',
      'name = "carol"\nupstream = "imaps://mail.example.com"\nupstream-ca = "/ca.pem"',
    );
    const result = await load({ config });
    assert.equal(result.upstream, undefined);
    assert.deepEqual(result.accounts, [
      { name: 'alice', upstream: parseUpstreamUrl('imaps://mail.example.com'), upstreamCa: undefined, upstreamInsecure: false, upstreamUser: 'alice', auth: 'password', upstreamConnections: DEFAULT_UPSTREAM_CONNECTIONS, prefetchBudget: undefined },
      { name: 'bob', upstream: parseUpstreamUrl('imap://other.example:1143'), upstreamCa: undefined, upstreamInsecure: true, upstreamUser: 'robert@other.example', auth: 'password', upstreamConnections: DEFAULT_UPSTREAM_CONNECTIONS, prefetchBudget: undefined },
      { name: 'carol', upstream: parseUpstreamUrl('imaps://mail.example.com'), upstreamCa: '/ca.pem', upstreamInsecure: false, upstreamUser: 'carol', auth: 'password', upstreamConnections: DEFAULT_UPSTREAM_CONNECTIONS, prefetchBudget: undefined },
    ]);
  });

  test('a top-level upstream beside accounts is an error that names both and the fix, wherever the upstream came from', async () => {
    const config = await configFile('upstream = "imaps://x.example"\n[[account]]\nname = "alice"\nupstream = "imaps://x.example"');
    await assertRejects(load({ config }), `"upstream" in ${config}: cannot be combined with [[account]] tables`, /remove this one, or remove the \[\[account\]\] tables/);
    const accounts = await accountsFile('name = "alice"\nupstream = "imaps://x.example"');
    await assertRejects(load({ config: accounts, upstream: 'imaps://y.example' }), /--upstream: cannot be combined with \[\[account\]\] tables/);
    await assertRejects(load({ config: accounts }, { IMAP_CACHE_PROXY_UPSTREAM: 'imaps://y.example' }), /IMAP_CACHE_PROXY_UPSTREAM: cannot be combined/);
    await assertRejects(load({ config: accounts, upstreamCa: '/ca.pem' }), /--upstream-ca: belongs to the single upstream: .*give it in the accounts that need it/);
  });

  test('no upstream and no accounts: the error names both ways', async () => {
    await assertRejects(load({}), /no upstream server/, /--upstream/, /\[\[account\]\] tables/);
  });

  test('errors name the account, by name and place, and the field', async () => {
    const config = await accountsFile('name = "alice"\nupstream = "imaps://x.example"', 'name = "bob"\nupstream = "https://y.example"');
    await assertRejects(load({ config }), `account "bob" (#2 [[account]] in ${config}), "upstream": unsupported scheme "https:"`);
    const nameless = await accountsFile('upstream = "imaps://x.example"');
    await assertRejects(load({ config: nameless }), `account #1 [[account]] in ${nameless}, "name": `);
    const unknown = await accountsFile('name = "alice"\nupstream = "imaps://x.example"\npassword = "secret"');
    await assertRejects(load({ config: unknown }), `account "alice" (#1 [[account]] in ${unknown}): `, /password/);
    const auth = await accountsFile('name = "alice"\nupstream = "imaps://x.example"\nauth = "kerberos"');
    await assertRejects(load({ config: auth }), `account "alice" (#1 [[account]] in ${auth}), "auth": `);
    const tls = await accountsFile('name = "alice"\nupstream = "imaps://x.example"\nupstream-insecure = true\nupstream-ca = "/ca.pem"');
    await assertRejects(load({ config: tls }), `account "alice" (#1 [[account]] in ${tls}), "upstream-insecure": cannot be combined with an upstream CA`);
    const table = await configFile('[account]\nname = "alice"\nupstream = "imaps://x.example"');
    await assertRejects(load({ config: table }), `[[account]] in ${table}: must be a list of [[account]] tables`);
  });

  test('auth = "oauth2" with a preset: its server, scopes and SASL mechanism unless given; with an issuer: openid and offline_access', async () => {
    const config = await accountsFile(
      'name = "me@gmail.com"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"\nclient-secret = "s"',
      'name = "work"\nauth = "oauth2"\nprovider = "microsoft"\nclient-id = "app2"\nupstream-user = "j@work.example"\nscopes = ["a", "b"]',
      'name = "own"\nauth = "oauth2"\nissuer = "https://id.example/realm"\nclient-id = "c"\nupstream = "imaps://mail.example"',
      'name = "bearer"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"\nsasl = "OAUTHBEARER"',
    );
    const [gmail, work, own, bearer] = (await load({ config })).accounts;
    assert.deepEqual(gmail?.upstream, { secure: true, host: 'imap.gmail.com', port: 993, url: 'imaps://imap.gmail.com:993' });
    assert.deepEqual(gmail?.oauth, { server: { preset: OAUTH_PRESETS.gmail.server }, clientId: 'app', clientSecret: 's', scopes: ['https://mail.google.com/'], sasl: 'XOAUTH2' });
    assert.equal(work?.upstream.host, 'outlook.office365.com');
    assert.deepEqual(work?.oauth?.scopes, ['a', 'b']);
    assert.deepEqual(own?.oauth, { server: { issuer: 'https://id.example/realm' }, clientId: 'c', clientSecret: undefined, scopes: ['openid', 'offline_access'] });
    assert.equal(bearer?.oauth?.sasl, 'OAUTHBEARER');
  });

  test('oauth2 settings are checked: a client id, one of issuer and provider, a server; none of them with auth = "password"', async () => {
    const noClient = await accountsFile('name = "a"\nauth = "oauth2"\nprovider = "gmail"');
    await assertRejects(load({ config: noClient }), /"client-id": is needed with auth = "oauth2"/);
    const both = await accountsFile('name = "a"\nauth = "oauth2"\nprovider = "gmail"\nissuer = "https://id.example"\nclient-id = "c"');
    await assertRejects(load({ config: both }), /"issuer": give either issuer .* or provider \(gmail, microsoft\), not both/);
    const noServer = await accountsFile('name = "a"\nauth = "oauth2"\nissuer = "https://id.example"\nclient-id = "c"');
    await assertRejects(load({ config: noServer }), /"upstream": is needed without a provider preset/);
    const unknown = await accountsFile('name = "a"\nauth = "oauth2"\nprovider = "yahoo"\nclient-id = "c"');
    await assertRejects(load({ config: unknown }), /"provider": /);
    const mechanism = await accountsFile('name = "a"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "c"\nsasl = "PLAIN"');
    await assertRejects(load({ config: mechanism }), /"sasl": /);
    const stray = await accountsFile('name = "a"\nupstream = "imaps://x.example"\nclient-id = "c"');
    await assertRejects(load({ config: stray }), /"client-id": belongs to auth = "oauth2"/);
  });

  test('upstream connections: an account\'s own, else the top-level setting, which a Gmail account keeps within 10', async () => {
    const config = await accountsFile(
      'name = "own"\nupstream = "imaps://x.example"\nupstream-connections = 2',
      'name = "plain"\nupstream = "imaps://y.example"',
      'name = "me@gmail.com"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"',
      'name = "many@gmail.com"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"\nupstream-connections = 12',
    );
    const connections = async (flags: Record<string, unknown>) => (await load({ config, ...flags })).accounts.map((a) => a.upstreamConnections);
    assert.deepEqual(await connections({}), [2, DEFAULT_UPSTREAM_CONNECTIONS, DEFAULT_UPSTREAM_CONNECTIONS, 12]);
    assert.deepEqual(await connections({ upstreamConnections: '16' }), [2, 16, 10, 12]);
    const bad = await accountsFile('name = "a"\nupstream = "imaps://x.example"\nupstream-connections = 0');
    await assertRejects(load({ config: bad }), `account "a" (#1 [[account]] in ${bad}), "upstream-connections": `);
  });

  test('prefetch budget: an account\'s own, else the top-level setting, which a Gmail account keeps within 2G', async () => {
    const config = await accountsFile(
      'name = "own"\nupstream = "imaps://x.example"\nprefetch-budget = "500M"',
      'name = "plain"\nupstream = "imaps://y.example"',
      'name = "me@gmail.com"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"',
      'name = "big@gmail.com"\nauth = "oauth2"\nprovider = "gmail"\nclient-id = "app"\nprefetch-budget = "3G"',
    );
    const budgets = async (flags: Record<string, unknown>) => (await load({ config, ...flags })).accounts.map((a) => a.prefetchBudget);
    assert.deepEqual(await budgets({}), [500 * 2 ** 20, undefined, 2 * 2 ** 30, 3 * 2 ** 30]);
    assert.deepEqual(await budgets({ prefetchBudget: '1G' }), [500 * 2 ** 20, 2 ** 30, 2 ** 30, 3 * 2 ** 30]);
    assert.deepEqual(await budgets({ prefetchBudget: '5G' }), [500 * 2 ** 20, 5 * 2 ** 30, 2 * 2 ** 30, 3 * 2 ** 30]);
    assert.equal((await load({ upstream: 'imaps://x.example' }, { IMAP_CACHE_PROXY_PREFETCH_BUDGET: '2GB' })).prefetchBudget, 2 * 2 ** 30);
    const bad = await accountsFile('name = "a"\nupstream = "imaps://x.example"\nprefetch-budget = "lots"');
    await assertRejects(load({ config: bad }), `account "a" (#1 [[account]] in ${bad}), "prefetch-budget": "lots" is not a size`);
  });

  test('Gmail\'s limits by host: a password account on imap.gmail.com as the preset, unless it sets its own; --upstream to Gmail gets its budget unless given', async () => {
    const config = await accountsFile(
      'name = "me@gmail.com"\nupstream = "imaps://imap.gmail.com:993"',
      'name = "old@googlemail.com"\nupstream = "imaps://IMAP.googlemail.com"',
      'name = "own@gmail.com"\nupstream = "imaps://imap.gmail.com"\nupstream-connections = 12\nprefetch-budget = "3G"',
      'name = "other"\nupstream = "imaps://mail.example"',
    );
    const limits = async (flags: Record<string, unknown>) => (await load({ config, ...flags })).accounts.map((a) => [a.upstreamConnections, a.prefetchBudget]);
    assert.deepEqual(await limits({}), [
      [DEFAULT_UPSTREAM_CONNECTIONS, 2 * 2 ** 30],
      [DEFAULT_UPSTREAM_CONNECTIONS, 2 * 2 ** 30],
      [12, 3 * 2 ** 30],
      [DEFAULT_UPSTREAM_CONNECTIONS, undefined],
    ]);
    assert.deepEqual(await limits({ upstreamConnections: '16', prefetchBudget: '5G' }), [
      [10, 2 * 2 ** 30],
      [10, 2 * 2 ** 30],
      [12, 3 * 2 ** 30],
      [16, 5 * 2 ** 30],
    ]);
    // the single upstream: its settings are the account's own
    const single = await load({ upstream: 'imaps://imap.gmail.com:993' });
    assert.equal(single.prefetchBudget, 2 * 2 ** 30);
    assert.equal(single.upstreamConnections, DEFAULT_UPSTREAM_CONNECTIONS);
    const given = await load({ upstream: 'imaps://imap.gmail.com:993', prefetchBudget: '3G', upstreamConnections: '12' });
    assert.deepEqual([given.prefetchBudget, given.upstreamConnections], [3 * 2 ** 30, 12]);
    assert.equal((await load({ upstream: 'imaps://mail.example' })).prefetchBudget, undefined);
  });

  test('two accounts with one name, or on one upstream account, are refused', async () => {
    const names = await accountsFile('name = "alice"\nupstream = "imaps://x.example"', 'name = "alice"\nupstream = "imaps://y.example"');
    await assertRejects(load({ config: names }), `account "alice" (#2 [[account]] in ${names}), "name": "alice" is already the name of account #1`);
    const same = await accountsFile('name = "alice"\nupstream = "imaps://x.example"', 'name = "al"\nupstream = "imaps://x.example:993"\nupstream-user = "alice"');
    await assertRejects(load({ config: same }), `account "al" (#2 [[account]] in ${same}), "upstream-user": user "alice" on imaps://x.example:993 is already account #1`);
  });
});

describe('parseUpstreamUrl', () => {
  test('imap:// defaults to port 143, imaps:// to 993; the URL is normalised with its port', () => {
    assert.deepEqual(parseUpstreamUrl('imap://mail.example.com'), { secure: false, host: 'mail.example.com', port: 143, url: 'imap://mail.example.com:143' });
    assert.deepEqual(parseUpstreamUrl('imaps://mail.example.com/'), { secure: true, host: 'mail.example.com', port: 993, url: 'imaps://mail.example.com:993' });
    assert.deepEqual(parseUpstreamUrl('imaps://mail.example.com:10993'), { secure: true, host: 'mail.example.com', port: 10993, url: 'imaps://mail.example.com:10993' });
    assert.deepEqual(parseUpstreamUrl('imap://[::1]:1143'), { secure: false, host: '::1', port: 1143, url: 'imap://[::1]:1143' });
  });

  test('credentials in the URL are rejected', () => {
    assert.throws(() => parseUpstreamUrl('imaps://user:secret@mail.example.com'), /must not contain credentials/);
    assert.throws(() => parseUpstreamUrl('imaps://user@mail.example.com'), /must not contain credentials/);
  });

  test('other schemes, paths, queries and non-URLs are rejected', () => {
    assert.throws(() => parseUpstreamUrl('https://mail.example.com'), /unsupported scheme "https:"/);
    assert.throws(() => parseUpstreamUrl('mail.example.com:993'), /unsupported scheme/);
    assert.throws(() => parseUpstreamUrl('imaps://mail.example.com/INBOX'), /unexpected path/);
    assert.throws(() => parseUpstreamUrl('imaps://mail.example.com?x=1'), /unexpected path or query/);
    assert.throws(() => parseUpstreamUrl('not a url'), /is not a URL/);
  });
});

describe('parseHostPort', () => {
  test('host and port, IPv6 in brackets', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:1143'), { host: '127.0.0.1', port: 1143 });
    assert.deepEqual(parseHostPort(' localhost:0 '), { host: 'localhost', port: 0 });
    assert.deepEqual(parseHostPort('[::1]:1143'), { host: '::1', port: 1143 });
    assert.deepEqual(parseHostPort('[fe80::1%eth0]:65535'), { host: 'fe80::1%eth0', port: 65535 });
  });

  test('anything else is rejected', () => {
    for (const value of ['1143', 'localhost', 'localhost:', ':1143', '::1:1143', 'host:65536', 'host:123456', 'host:-1', '[::1]']) {
      assert.throws(() => parseHostPort(value), /is not HOST:PORT/, value);
    }
  });
});

describe('parseSwitch', () => {
  test('true/false, yes/no, on/off, 1/0 in any case; anything else is refused', () => {
    for (const word of ['true', 'YES', 'On', '1']) assert.equal(parseSwitch(word), true, word);
    for (const word of ['false', 'no', 'OFF', '0']) assert.equal(parseSwitch(word), false, word);
    assert.throws(() => parseSwitch(''), /is neither true nor false/);
  });
});

describe('parseSize', () => {
  test('plain bytes and units of 1024', () => {
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize('512K'), 512 * 1024);
    assert.equal(parseSize('25MB'), 25 * 1024 * 1024);
    assert.equal(parseSize('1.5g'), 1.5 * 1024 ** 3);
  });

  test('anything else is refused with the value in the message', () => {
    assert.throws(() => parseSize('lots'), /"lots" is not a size/);
    assert.throws(() => parseSize('10 parsecs'), /not a size/);
  });
});
