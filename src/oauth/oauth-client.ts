import * as client from 'openid-client';
import { isLoopback } from '../model/loopback.js';
import { ProxyError } from '../model/errors.js';
import { LoopbackRedirect } from './loopback-redirect.js';
import type { OAuthSettings } from './presets.js';

/** Tokens from the provider's token endpoint, as the proxy uses them. */
export interface TokenSet {
  accessToken: string;
  /** When the access token expires (ms since the epoch); unknown lifetimes count as short. */
  expiresAt: number;
  /** A new refresh token, when the provider sent one (first grant, or rotation). */
  refreshToken: string | undefined;
  scope: string | undefined;
}

/** The lifetime assumed when a provider does not say: short, so such a token is refreshed early rather than late. */
const ASSUMED_LIFETIME_S = 300;

/** Errors of the token endpoint that no retry cures: the grant is revoked or expired, or the app is. */
const REFUSED_FOR_GOOD = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'access_denied', 'expired_token']);

/**
 * The openid-client configuration of an account's provider: a preset's endpoints as they are, an
 * issuer's from its discovery document. Plain http is allowed only to a loopback issuer (tests,
 * a local provider).
 */
export async function providerConfiguration(settings: OAuthSettings): Promise<client.Configuration> {
  const auth = settings.clientSecret ? client.ClientSecretPost(settings.clientSecret) : client.None();
  const metadata = settings.clientSecret ? { client_secret: settings.clientSecret } : {};
  if ('preset' in settings.server) {
    const { preset } = settings.server;
    const server: client.ServerMetadata = {
      issuer: preset.issuer,
      authorization_endpoint: preset.authorizationEndpoint,
      token_endpoint: preset.tokenEndpoint,
      ...(preset.deviceAuthorizationEndpoint ? { device_authorization_endpoint: preset.deviceAuthorizationEndpoint } : {}),
    };
    return new client.Configuration(server, settings.clientId, metadata, auth);
  }
  const issuer = new URL(settings.server.issuer);
  const insecure = issuer.protocol === 'http:' && isLoopback(issuer.hostname);
  try {
    return await client.discovery(issuer, settings.clientId, metadata, auth, insecure ? { execute: [client.allowInsecureRequests] } : {});
  } catch (err) {
    throw tokenEndpointError(err, `discovery of ${issuer.href} failed`);
  }
}

/** A new access token for the stored refresh token. */
export async function refreshTokens(config: client.Configuration, refreshToken: string): Promise<TokenSet> {
  try {
    return tokenSet(await client.refreshTokenGrant(config, refreshToken));
  } catch (err) {
    throw tokenEndpointError(err, 'refreshing the access token failed');
  }
}

/** The device flow when the provider has it (no browser needed on this machine), else the browser. */
export function defaultFlow(config: client.Configuration): 'device' | 'browser' {
  return config.serverMetadata().device_authorization_endpoint ? 'device' : 'browser';
}

/** What the user is shown to approve a device authorization (RFC 8628). */
export interface DevicePrompt {
  verificationUri: string;
  verificationUriComplete: string | undefined;
  userCode: string;
  expiresInSeconds: number;
}

/** The device authorization grant: asks for a code, shows it, polls until the user approved it. */
export async function deviceGrant(config: client.Configuration, scopes: readonly string[], show: (prompt: DevicePrompt) => void, signal?: AbortSignal): Promise<TokenSet> {
  try {
    const device = await client.initiateDeviceAuthorization(config, { scope: scopes.join(' ') });
    show({
      verificationUri: device.verification_uri,
      verificationUriComplete: device.verification_uri_complete,
      userCode: device.user_code,
      expiresInSeconds: device.expires_in,
    });
    return tokenSet(await client.pollDeviceAuthorizationGrant(config, device, undefined, signal ? { signal } : {}));
  } catch (err) {
    throw tokenEndpointError(err, 'the device authorization failed');
  }
}

/**
 * The authorization code grant with PKCE and a loopback redirect (RFC 8252): `open` is given the
 * URL to sign in at; the browser comes back to 127.0.0.1 with the code.
 */
export async function browserGrant(config: client.Configuration, scopes: readonly string[], open: (url: string) => void): Promise<TokenSet> {
  const redirect = await LoopbackRedirect.listen();
  try {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirect.redirectUri,
      scope: scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      // a refresh token: Google's way, and consent for offline_access elsewhere
      access_type: 'offline',
      prompt: 'consent',
    });
    open(url.href);
    const back = await redirect.redirected();
    return tokenSet(await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state }));
  } catch (err) {
    throw tokenEndpointError(err, 'the sign-in in the browser failed');
  } finally {
    redirect.close();
  }
}

function tokenSet(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): TokenSet {
  return {
    accessToken: response.access_token,
    expiresAt: Date.now() + (response.expiresIn() ?? ASSUMED_LIFETIME_S) * 1000,
    refreshToken: response.refresh_token,
    scope: response.scope,
  };
}

/** The provider's refusal is for good (UPSTREAM_TOKEN_REFUSED); anything else may pass (UPSTREAM_UNAVAILABLE). */
function tokenEndpointError(err: unknown, what: string): ProxyError {
  if (err instanceof client.ResponseBodyError && REFUSED_FOR_GOOD.has(err.error)) {
    return new ProxyError('UPSTREAM_TOKEN_REFUSED', `${what}: the provider answered ${err.error}`, { context: { description: err.error_description } });
  }
  return new ProxyError('UPSTREAM_UNAVAILABLE', `${what}: ${(err as Error).message}`, { cause: err });
}
