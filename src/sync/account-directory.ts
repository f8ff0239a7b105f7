import { createHash } from 'node:crypto';
import type { AccountId, UpstreamEndpoint } from '../model/types.js';
import type { OAuthSettings } from '../oauth/presets.js';

/** Where one local account's mail is: the name clients log in with, the server, the user there. */
export interface AccountRoute {
  name: string;
  endpoint: UpstreamEndpoint;
  upstreamUser: string;
  /** Upstream connections the account may have open, its watcher's included. */
  connections: number;
  /** The background sync's daily download budget in bytes; none: no limit. */
  prefetchBudget?: number;
  /** How the proxy logs in upstream with auth = "oauth2"; without it, with the client's password. */
  oauth?: OAuthSettings;
}

/**
 * Which upstream account a login goes to: with a single upstream (--upstream), any login name,
 * passed through as the user name there; with configured accounts, only their names.
 */
export type AccountDirectory =
  | { kind: 'passthrough'; endpoint: UpstreamEndpoint; connections: number; prefetchBudget?: number }
  | { kind: 'configured'; accounts: readonly AccountRoute[] };

/** The account a login name picks; none when no configured account has that name. */
export function routeOf(directory: AccountDirectory, loginName: string): AccountRoute | undefined {
  if (directory.kind === 'passthrough') {
    const { endpoint, connections, prefetchBudget } = directory;
    return { name: loginName, endpoint, upstreamUser: loginName, connections, ...(prefetchBudget !== undefined ? { prefetchBudget } : {}) };
  }
  return directory.accounts.find((account) => account.name === loginName);
}

/**
 * The cache namespace of a user on an upstream server: two accounts never share keys. The local
 * name plays no part, so a cache made with a single --upstream stays the account's cache.
 */
export function accountIdOf(route: Pick<AccountRoute, 'endpoint' | 'upstreamUser'>): AccountId {
  return createHash('sha256').update(`${route.endpoint.url}\n${route.upstreamUser}`).digest('hex').slice(0, 16);
}
