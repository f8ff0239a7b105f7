import { createHash } from 'node:crypto';
import type { CacheStore } from '../cache/cache-store.js';
import type { Logger } from '../log.js';
import type { AccountId, Credentials, UpstreamEndpoint } from '../model/types.js';
import { ConnectionPool } from '../upstream/connection-pool.js';
import { UpstreamConnection } from '../upstream/upstream-connection.js';
import { Account } from './account.js';
import type { FreshBodies } from './fresh-bodies.js';
import type { PrefetchOptions } from './prefetch.js';

/** The cache namespace of a user on an upstream server: two accounts never share keys. */
export function accountIdOf(upstreamUrl: string, user: string): AccountId {
  return createHash('sha256').update(`${upstreamUrl}\n${user}`).digest('hex').slice(0, 16);
}

export interface AccountsOptions {
  endpoint: UpstreamEndpoint;
  store: CacheStore;
  freshBodies: FreshBodies;
  connectionsPerAccount: number;
  /** The background sync, or none (prefetch off). */
  prefetch?: PrefetchOptions;
  log: Logger;
}

/**
 * Logs clients in by logging in upstream, and keeps one Account per user. A login with the
 * password that an open upstream connection of this account was authenticated with is accepted
 * without another upstream login: upstream has checked it and the session is still live.
 */
export class Accounts {
  private readonly accounts = new Map<AccountId, Account>();

  constructor(private readonly options: AccountsOptions) {}

  async login(credentials: Credentials): Promise<Account> {
    const { endpoint, store, log } = this.options;
    const id = accountIdOf(endpoint.url, credentials.user);
    const existing = this.accounts.get(id);
    if (existing && existing.pool.connectionCount > 0 && existing.hasPassword(credentials.pass)) return existing;

    // throws UPSTREAM_AUTH_FAILED or UPSTREAM_UNAVAILABLE
    const conn = await UpstreamConnection.connect({ endpoint, credentials, logger: log });
    let account = this.accounts.get(id);
    if (!account && !conn.encrypted) {
      log.warn({ user: credentials.user, upstream: endpoint.url }, 'the upstream connection is not encrypted: the server offers no STARTTLS');
    }
    if (!account) {
      account = new Account(
        id,
        credentials.user,
        store,
        this.options.freshBodies,
        // one of the account's connections is its watcher (AccountWatcher)
        (accountLog) => new ConnectionPool(endpoint, credentials, Math.max(1, this.options.connectionsPerAccount - 1), accountLog),
        credentials,
        log,
        this.options.prefetch,
      );
      this.accounts.set(id, account);
    }
    account.acceptedPassword(credentials);
    account.pool.adopt(conn);
    account.watcher.start();
    account.prefetcher?.start();
    await account.saveRecord(endpoint.url);
    return account;
  }

  get(id: AccountId): Account | undefined {
    return this.accounts.get(id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.accounts.values()].map((account) => account.close()));
    this.accounts.clear();
  }
}
