import type { Logger } from '../log.js';
import { isProxyError, ProxyError } from '../model/errors.js';
import { ACCESS_TOKEN_REFRESH_MARGIN_MS, ACCESS_TOKEN_REFRESH_PART } from '../model/limits.js';
import type { OAuthSettings } from '../oauth/presets.js';
import type { TokenVault } from './token-vault.js';

type OAuthClient = typeof import('../oauth/oauth-client.js');
/** openid-client is loaded at the first refresh: a proxy without OAuth2 accounts never loads it. */
const oauthClient = (): Promise<OAuthClient> => import('../oauth/oauth-client.js');

/** The refusal a client sees: it names the command that gets new tokens. */
export function accountLoginNeeded(name: string, err: ProxyError): ProxyError {
  return new ProxyError('UPSTREAM_TOKEN_REFUSED', err.message, {
    cause: err,
    context: err.context,
    clientText: `The mail provider refused the stored authorization: run "imap-cache-proxy account login ${name}"`,
  });
}

/**
 * An OAuth2 account's access tokens: each new upstream connection asks for one, and gets one
 * that is good for a while yet (refreshed before it expires, one refresh at a time). A token
 * upstream refused before its expiry (revoked at the provider) is not handed out again. A refresh
 * token the provider rotates is sealed into the vault at once. A refusal for good is kept (and
 * shown by `status`) until a client logs in after a new `account login`.
 */
export class AccessTokens {
  private config: ReturnType<OAuthClient['providerConfiguration']> | undefined;
  private token: { value: string; refreshAt: number } | undefined;
  private refreshing: Promise<string> | undefined;
  private refusal: string | undefined;

  constructor(
    private readonly name: string,
    private readonly settings: OAuthSettings,
    private vault: TokenVault,
    private readonly log: Logger,
  ) {}

  /** Why the provider refuses the grant, once it did. */
  get refused(): string | undefined {
    return this.refusal;
  }

  /** Takes a vault opened at a client login: a new `account login` replaced the grant this one holds. */
  adopt(vault: TokenVault): void {
    if (vault.grant.refreshToken === this.vault.grant.refreshToken) return;
    this.vault = vault;
    this.token = undefined;
    this.refusal = undefined;
  }

  /**
   * A token to log in upstream with; `refused`: upstream refused that one. Connections refused
   * with the same token share one refresh (a later one finds the new token already there).
   */
  async get(refused?: string): Promise<string> {
    if (refused !== undefined && this.token?.value === refused) this.token = undefined;
    if (this.token && Date.now() < this.token.refreshAt) return this.token.value;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<string> {
    try {
      const { providerConfiguration, refreshTokens } = await oauthClient();
      this.config ??= providerConfiguration(this.settings);
      const config = await this.config.catch((err: unknown) => {
        this.config = undefined; // discovery is tried again next time
        throw err;
      });
      const { grant } = this.vault;
      const tokens = await refreshTokens(config, grant.refreshToken);
      if (tokens.refreshToken && tokens.refreshToken !== grant.refreshToken) {
        await this.vault.save({ ...grant, refreshToken: tokens.refreshToken, scope: tokens.scope ?? grant.scope });
      }
      const lifetime = tokens.expiresAt - Date.now();
      this.token = { value: tokens.accessToken, refreshAt: tokens.expiresAt - Math.min(ACCESS_TOKEN_REFRESH_MARGIN_MS, lifetime * ACCESS_TOKEN_REFRESH_PART) };
      this.refusal = undefined;
      this.log.debug({ account: this.name, expiresInMs: lifetime }, 'access token refreshed');
      return tokens.accessToken;
    } catch (err) {
      if (!isProxyError(err, 'UPSTREAM_TOKEN_REFUSED')) throw err;
      this.token = undefined;
      this.refusal = err.message;
      this.log.warn({ account: this.name, reason: err.message }, `the provider refuses the stored grant: "imap-cache-proxy account login ${this.name}" gets a new one`);
      throw accountLoginNeeded(this.name, err);
    }
  }
}
