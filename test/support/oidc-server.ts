// A real OAuth 2.0 / OpenID Connect authorization server for tests (oidc-provider) on a free
// loopback port: the device flow and introspection on, short-lived access tokens, a public client
// for the proxy and a confidential one for Dovecot's introspection. Its sign-in pages are driven
// over HTTP (browse), and the user signs in without a password: the account is fixed.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

export interface OidcServer {
  issuer: string;
  /** The proxy's client id (public: no secret, as an installed app). */
  clientId: string;
  /** Dovecot's: it introspects the tokens the proxy logs in with. */
  introspection: { url: string; clientId: string; clientSecret: string };
  /** Every access and refresh token issued so far. */
  issued: { accessTokens: string[]; refreshTokens: string[] };
  /** Refresh grants answered so far. */
  refreshes(): number;
  /** Revokes a refresh token (as a user would at the provider). */
  revoke(refreshToken: string): Promise<void>;
  /** Revokes every access token issued so far, also those not expired (as a provider does when the password changes); returns how many. */
  revokeAccessTokens(): Promise<number>;
  /** The lifetime of the access tokens issued from now on. */
  setAccessTokenSeconds(seconds: number): void;
  close(): Promise<void>;
}

export interface OidcServerOptions {
  /** The one user who signs in. */
  user: string;
  /** The lifetime of access tokens (setAccessTokenSeconds changes it). */
  accessTokenSeconds: number;
}

/** startOidcServer() whose server is closed by node:test's `after` of the current suite/test. */
export async function withOidcServer(options: OidcServerOptions): Promise<OidcServer> {
  const oidc = await startOidcServer(options);
  after(() => oidc.close());
  return oidc;
}

/** Dovecot's oauth2 passdb (DovecotOptions.oauth2): introspection at this server, as its client `dovecot`. */
export function introspectionBy(oidc: OidcServer): { introspectionUrl: string } {
  const url = new URL(oidc.introspection.url);
  url.username = oidc.introspection.clientId;
  url.password = oidc.introspection.clientSecret;
  return { introspectionUrl: url.href };
}

export async function startOidcServer(options: OidcServerOptions): Promise<OidcServer> {
  const issued = { accessTokens: [] as string[], refreshTokens: [] as string[] };
  let refreshes = 0;
  let accessTokenSeconds = options.accessTokenSeconds;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const introspection = { url: `${issuer}/token/introspection`, clientId: 'dovecot', clientSecret: 'dovecot-introspects' };
  // loaded here, not at import: the bench imports this module for one scenario of many
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'imap-cache-proxy',
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code', 'refresh_token'],
        response_types: ['code'],
        // a native client's loopback redirect matches on any port (RFC 8252, section 7.3)
        redirect_uris: ['http://127.0.0.1/'],
      },
      { client_id: introspection.clientId, client_secret: introspection.clientSecret, grant_types: [], response_types: [], redirect_uris: [] },
    ],
    features: { deviceFlow: { enabled: true }, introspection: { enabled: true }, revocation: { enabled: true }, devInteractions: { enabled: false } },
    ttl: { AccessToken: () => accessTokenSeconds, RefreshToken: 3600, DeviceCode: 600, Grant: 3600, Interaction: 600, Session: 3600, IdToken: 3600 },
    cookies: { keys: ['a test key'] },
    findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId }) }),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
  });
  provider.on('access_token.saved', (token: { jti: string }) => issued.accessTokens.push(token.jti));
  provider.on('refresh_token.saved', (token: { jti: string }) => issued.refreshTokens.push(token.jti));
  provider.on('grant.success', (ctx: { oidc: { params: { grant_type?: string } } }) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') refreshes++;
  });
  const callback = provider.callback();
  // the sign-in and consent steps, answered at once for the one user
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') return provider.interactionFinished(req, res, { login: { accountId: options.user } }, { mergeWithLastSubmission: false });
    const grant = new provider.Grant({ accountId: options.user, clientId: String(details.params['client_id']) });
    grant.addOIDCScope(String(details.params['scope']));
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  server.on('request', (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    interaction(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  const oidc: OidcServer = {
    issuer,
    clientId: 'imap-cache-proxy',
    introspection,
    issued,
    refreshes: () => refreshes,
    async revoke(refreshToken) {
      const token = await provider.RefreshToken.find(refreshToken);
      assert.ok(token, 'no such refresh token');
      await token.destroy();
    },
    async revokeAccessTokens() {
      const live = (await Promise.all(issued.accessTokens.map((value) => provider.AccessToken.find(value)))).filter((token) => token !== undefined);
      await Promise.all(live.map((token) => token.destroy()));
      return live.length;
    },
    setAccessTokenSeconds(seconds) {
      accessTokenSeconds = seconds;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  server.unref();
  return oidc;
}

/**
 * What the user does in a browser for the device flow: opens the verification URL, enters the
 * code, confirms.
 */
export async function approveDevice(verificationUri: string, userCode: string): Promise<void> {
  assert.match(await browse(verificationUri, { user_code: userCode }), /Sign-in Success/);
}

/**
 * A browser on the pages of the sign-in: follows redirects, keeps cookies, submits each page's
 * form (its hidden fields, and `fill`), until a page without a form; returns that page.
 */
export async function browse(start: string, fill: Record<string, string> = {}): Promise<string> {
  const cookies = new Map<string, string>();
  let url = new URL(start);
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 20; step++) {
    const response = await fetch(url, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
      ...(body ? { body } : {}),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url);
      body = undefined;
      continue;
    }
    const html = await response.text();
    assert.equal(response.status, 200, html);
    const form = /<form[^>]*action="([^"]+)"/.exec(html);
    if (!form?.[1]) return html;
    body = new URLSearchParams([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']));
    for (const [name, value] of Object.entries(fill)) body.set(name, value);
    url = new URL(form[1], url);
  }
  assert.fail('the sign-in did not finish within 20 pages');
}
