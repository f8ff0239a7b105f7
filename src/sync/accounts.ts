import type { CacheStore } from '../cache/cache-store.js';
import type { OAuthSettings } from '../oauth/presets.js';
import type { Logger } from '../log.js';
import type { AccountId, Credentials, UpstreamLogin } from '../model/types.js';
import { UpstreamConnection } from '../upstream/upstream-connection.js';
import { RECORD_VERSION } from '../cache/records.js';
import { isProxyError, isUpstreamOut, ProxyError } from '../model/errors.js';
import { LOGIN_UPSTREAM_WAIT_MS } from '../model/limits.js';
import { Account } from './account.js';
import { AccessTokens, accountLoginNeeded } from './access-tokens.js';
import { accountIdOf, routeOf, type AccountDirectory, type AccountRoute } from './account-directory.js';
import { TokenVault, vaultPath } from './token-vault.js';
import { SharedLogins } from './shared-logins.js';
import { hashPassword, verifyPassword } from './password-hash.js';
import type { FreshBodies } from './fresh-bodies.js';
import type { PrefetchOptions } from './prefetch.js';

export interface AccountsOptions {
  directory: AccountDirectory;
  store: CacheStore;
  freshBodies: FreshBodies;
  /** Without NOTIFY upstream: how often cached folders no client has selected are polled (AccountWatcher). */
  pollIntervalMs: number;
  /** Where OAuth2 accounts' token vaults are (the data directory). */
  dataDir: string;
  /** The background sync, or none (prefetch off). */
  prefetch?: PrefetchOptions;
  log: Logger;
}

/** What `status` reports of an account: the configured ones also before their first login. */
export interface KnownAccount {
  id: AccountId;
  name: string;
  user: string;
  upstream: string;
  /** Upstream connections it may have, its watcher's included. */
  connections: number;
  /** The background sync's daily download budget in bytes; none: no limit. */
  prefetchBudget?: number;
  /** Its live state, once a client logged in. */
  live?: Account;
  /** auth = "oauth2": why the provider refuses the stored grant, since it did. */
  tokensRefused?: string;
}

/**
 * Logs clients in by logging in upstream, and keeps one Account per upstream account. The login
 * name picks the account (AccountDirectory); a name no account has is refused without a word
 * upstream. A login with the password that an open upstream connection of this account was
 * authenticated with is accepted without another upstream login: upstream has checked it and
 * the session is still live. An OAuth2 account (auth = "oauth2") is logged in to with its local
 * password, which opens its token vault; upstream gets access tokens (AccessTokens).
 */
export class Accounts {
  private readonly accounts = new Map<AccountId, Account>();
  /** The access tokens of OAuth2 accounts, one source per account (a rotated refresh token has one holder). */
  private readonly tokens = new Map<AccountId, AccessTokens>();
  /** Accounts whose unencrypted upstream connection was warned about (once, however many log in at once). */
  private readonly warnedUnencrypted = new Set<AccountId>();
  /** Upstream logins under way, shared by clients of one account with the same password. */
  private readonly logins = new SharedLogins<Account>();

  constructor(private readonly options: AccountsOptions) {}

  /**
   * Logs in upstream. When upstream cannot be reached (or does not answer within a moment), the
   * password is checked against the hash of the last one upstream accepted: the account works
   * from its cache and reconnects by itself. A password upstream refuses clears that hash.
   * `login` is what the client gave: its login name picks the account.
   */
  async login(login: Credentials): Promise<Account> {
    const route = routeOf(this.options.directory, login.user);
    if (!route) throw new ProxyError('UPSTREAM_AUTH_FAILED', 'no account has this login name');
    const credentials = { user: route.upstreamUser, pass: login.pass };
    const id = accountIdOf(route);
    const live = () => {
      const existing = this.accounts.get(id);
      return existing && existing.pool.connectionCount > 0 && existing.hasPassword(credentials.pass) ? existing : undefined;
    };
    return live() ?? this.logins.run(id, credentials.pass, async () => live() ?? this.loginUpstream(route, id, credentials));
  }

  /** The login of `login()` that goes upstream (shared: SharedLogins), its connection within the account's cap. */
  private async loginUpstream(route: AccountRoute, id: AccountId, credentials: Credentials): Promise<Account> {
    const { store, log } = this.options;
    const { endpoint } = route;
    const upstreamLogin = route.oauth ? await this.tokenLogin(id, route, route.oauth, credentials.pass) : credentials;
    const record = await store.getAccount(id);
    // an account already live: the login's connection is one of its pool's until it is adopted or fails
    const live = this.accounts.get(id);
    // while the server locks the account out, a login is not tried upstream (another refusal could keep the lock on)
    const locked = live?.pool.backoff.lockedOutFor('login');
    const release = locked ? undefined : await live?.pool.reserve().catch(() => undefined);
    const attempt = locked ? { connected: Promise.reject(locked), answered: () => true } : UpstreamConnection.attempt({ endpoint, credentials: upstreamLogin, logger: log });
    if (release) attempt.connected.then(release, release);
    let conn: UpstreamConnection;
    try {
      conn = record?.passwordHash ? await unlessUnreachable(attempt) : await attempt.connected;
    } catch (err) {
      if (isProxyError(err, 'UPSTREAM_AUTH_FAILED')) await this.passwordRefused(id, credentials);
      if (!isUpstreamOut(err) || !record?.passwordHash) throw err;
      if (!(await verifyPassword(credentials.pass, record.passwordHash))) {
        throw new ProxyError('UPSTREAM_AUTH_FAILED', 'wrong password (checked against the stored hash: upstream unreachable)');
      }
      const account = this.account(id, route, upstreamLogin, credentials.pass);
      account.upstreamCapabilities = new Set(record.upstreamCapabilities ?? []);
      // refused while the account has connections open: upstream's connection limit, not upstream gone
      if (account.pool.connectionCount === 0) account.pool.noteUnreachable(err);
      else account.pool.noteLockout(err);
      account.acceptedPassword(credentials.pass, upstreamLogin);
      account.watcher.start();
      // an upstream login that was only slow still joins the pool when it completes, and one
      // that upstream refuses in the end drops the stored hash
      attempt.connected.then(
        (late) => {
          account.pool.adopt(late);
          account.pool.noteReachable();
        },
        (late: unknown) => {
          if (isProxyError(late, 'UPSTREAM_AUTH_FAILED')) void this.passwordRefused(id, credentials);
        },
      );
      return account;
    }
    const account = this.account(id, route, upstreamLogin, credentials.pass);
    if (!conn.encrypted && !this.warnedUnencrypted.has(id)) {
      this.warnedUnencrypted.add(id);
      log.warn({ user: credentials.user, upstream: endpoint.url }, 'the upstream connection is not encrypted: the server offers no STARTTLS');
    }
    account.acceptedPassword(credentials.pass, upstreamLogin);
    const capabilities = conn.capabilities.sort();
    account.upstreamCapabilities = new Set(capabilities);
    account.pool.adopt(conn);
    account.pool.noteReachable();
    account.watcher.start();
    account.prefetcher?.start();
    const known = !!record?.passwordHash && (await verifyPassword(credentials.pass, record.passwordHash));
    if (!known || record?.upstreamCapabilities?.join(' ') !== capabilities.join(' ') || record?.name !== route.name) {
      await store.putAccount(id, {
        ...(record ?? { v: RECORD_VERSION, upstream: endpoint.url, user: credentials.user, createdAt: Date.now() }),
        name: route.name,
        passwordHash: known && record?.passwordHash ? record.passwordHash : await hashPassword(credentials.pass),
        upstreamCapabilities: capabilities,
      });
    }
    return account;
  }

  /**
   * Whether this is the password upstream last accepted for the user (a live account's, else the
   * stored hash); undefined when the proxy has none to compare with.
   */
  async isKnownPassword(login: Credentials): Promise<boolean | undefined> {
    const route = routeOf(this.options.directory, login.user);
    if (!route) return false;
    const id = accountIdOf(route);
    if (this.accounts.get(id)?.hasPassword(login.pass)) return true;
    const hash = (await this.options.store.getAccount(id))?.passwordHash;
    return hash ? verifyPassword(login.pass, hash) : undefined;
  }

  /** Upstream refused this password (changed with the provider): it no longer logs in, offline either. */
  private async passwordRefused(id: AccountId, credentials: Credentials): Promise<void> {
    const { store, log } = this.options;
    this.accounts.get(id)?.passwordRefused(credentials.pass);
    const record = await store.getAccount(id);
    if (record?.passwordHash && (await verifyPassword(credentials.pass, record.passwordHash))) {
      await store.putAccount(id, { ...record, passwordHash: undefined });
      log.info({ user: credentials.user }, 'upstream refused the stored password: offline logins need a new upstream login first');
    }
  }

  /**
   * An OAuth2 account: the client's password is the local one, which opens the token vault (a
   * wrong one fails the login); upstream gets an access token for each connection.
   */
  private async tokenLogin(id: AccountId, route: AccountRoute, oauth: OAuthSettings, password: string): Promise<UpstreamLogin> {
    let vault: TokenVault;
    try {
      vault = await TokenVault.open(vaultPath(this.options.dataDir, id), password);
    } catch (err) {
      throw isProxyError(err, 'UPSTREAM_TOKEN_REFUSED') ? accountLoginNeeded(route.name, err) : err;
    }
    let tokens = this.tokens.get(id);
    if (tokens) tokens.adopt(vault);
    else {
      tokens = new AccessTokens(route.name, oauth, vault, this.options.log);
      this.tokens.set(id, tokens);
    }
    const source = tokens;
    return { user: route.upstreamUser, accessToken: (refused) => source.get(refused), ...(oauth.sasl ? { mechanism: oauth.sasl } : {}) };
  }

  private account(id: AccountId, route: AccountRoute, credentials: UpstreamLogin, password: string): Account {
    let account = this.accounts.get(id);
    if (!account) {
      const { store, log, freshBodies, prefetch } = this.options;
      account = new Account({
        id,
        name: route.name,
        endpoint: route.endpoint,
        credentials,
        password,
        store,
        freshBodies,
        // one of the account's connections is its watcher (AccountWatcher)
        poolSize: Math.max(1, route.connections - 1),
        pollIntervalMs: this.options.pollIntervalMs,
        ...(route.prefetchBudget !== undefined ? { prefetchBudget: route.prefetchBudget } : {}),
        log,
        ...(prefetch ? { prefetch } : {}),
      });
      this.accounts.set(id, account);
    }
    return account;
  }

  get(id: AccountId): Account | undefined {
    return this.accounts.get(id);
  }

  list(): Account[] {
    return [...this.accounts.values()];
  }

  /** Every configured account in the config's order, logged in or not; with a single upstream, those logged in. */
  known(): KnownAccount[] {
    const { directory } = this.options;
    const limits = ({ connections, prefetchBudget }: { connections: number; prefetchBudget?: number }) => ({
      connections,
      ...(prefetchBudget !== undefined ? { prefetchBudget } : {}),
    });
    if (directory.kind === 'passthrough') {
      return this.list().map((live) => ({ id: live.id, name: live.name, user: live.user, upstream: live.upstream, ...limits(directory), live }));
    }
    return directory.accounts.map((route) => {
      const id = accountIdOf(route);
      const live = this.accounts.get(id);
      const refused = this.tokens.get(id)?.refused;
      return { id, name: route.name, user: route.upstreamUser, upstream: route.endpoint.url, ...limits(route), ...(live ? { live } : {}), ...(refused ? { tokensRefused: refused } : {}) };
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.accounts.values()].map((account) => account.close()));
    this.accounts.clear();
  }
}

/**
 * The login's result, or UPSTREAM_UNAVAILABLE if upstream has not even greeted within
 * LOGIN_UPSTREAM_WAIT_MS. A server that answered is waited for: its verdict on the password counts.
 */
function unlessUnreachable(attempt: { connected: Promise<UpstreamConnection>; answered(): boolean }): Promise<UpstreamConnection> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (!attempt.answered()) reject(new ProxyError('UPSTREAM_UNAVAILABLE', `upstream did not answer within ${LOGIN_UPSTREAM_WAIT_MS} ms`));
    }, LOGIN_UPSTREAM_WAIT_MS);
    attempt.connected.then(
      (conn) => (clearTimeout(timer), resolve(conn)),
      (err: unknown) => (clearTimeout(timer), reject(err)),
    );
  });
}
