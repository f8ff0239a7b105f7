import { GMAIL_PREFETCH_BUDGET, GMAIL_UPSTREAM_CONNECTIONS } from '../model/limits.js';
import type { UpstreamEndpoint } from '../model/types.js';

/** Where an authorization server's endpoints are: fixed in a preset, or read by OIDC discovery. */
export interface OAuthServer {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  deviceAuthorizationEndpoint?: string;
}

/** An account's OAuth2 settings: the authorization server (a preset's or an issuer's), the app registered there. */
export interface OAuthSettings {
  /** A preset's fixed endpoints, or the issuer URL whose OIDC discovery document names them. */
  server: { preset: OAuthServer } | { issuer: string };
  clientId: string;
  clientSecret: string | undefined;
  scopes: string[];
  /** The SASL mechanism upstream; without one, OAUTHBEARER when the server announces it, else XOAUTH2. */
  sasl?: SaslMechanism;
}

export const SASL_MECHANISMS = ['XOAUTH2', 'OAUTHBEARER'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** What a provider allows an account: the defaults of the account's settings stay within these. */
export interface ProviderLimits {
  upstreamConnections: number;
  /** Bytes a day the background sync may download. */
  prefetchBudget: number;
}

export interface OAuthPreset {
  server: OAuthServer;
  upstream: UpstreamEndpoint;
  scopes: readonly string[];
  sasl: SaslMechanism;
  limits?: ProviderLimits;
}

/**
 * Providers whose endpoints are written out rather than discovered: Microsoft's discovery
 * document names a templated issuer ({tenantid}) that a strict client refuses. The user registers
 * an app with the provider and gives its client id (and secret, for Google's desktop apps).
 */
export const OAUTH_PRESETS = {
  // https://developers.google.com/identity/protocols/oauth2/native-app, https://developers.google.com/gmail/imap/xoauth2-protocol
  gmail: {
    server: {
      issuer: 'https://accounts.google.com',
      authorizationEndpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenEndpoint: 'https://oauth2.googleapis.com/token',
      // none: Google's device flow does not grant the mail scope, so sign-in is in a browser
    },
    upstream: { secure: true, host: 'imap.gmail.com', port: 993, url: 'imaps://imap.gmail.com:993' },
    scopes: ['https://mail.google.com/'],
    sasl: 'XOAUTH2', // the one Google documents for IMAP (it announces OAUTHBEARER too)
    // https://support.google.com/mail/answer/7126229: 15 connections per account (the user's other
    // clients' included) and about 2.5 GB of IMAP download a day
    limits: { upstreamConnections: GMAIL_UPSTREAM_CONNECTIONS, prefetchBudget: GMAIL_PREFETCH_BUDGET },
  },
  // https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
  microsoft: {
    server: {
      issuer: 'https://login.microsoftonline.com/common/v2.0',
      authorizationEndpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
      tokenEndpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
      deviceAuthorizationEndpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/devicecode',
    },
    upstream: { secure: true, host: 'outlook.office365.com', port: 993, url: 'imaps://outlook.office365.com:993' },
    scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access'],
    sasl: 'XOAUTH2', // the only one it announces
  },
} as const satisfies Record<string, OAuthPreset>;

export type OAuthProviderName = keyof typeof OAUTH_PRESETS;
export const OAUTH_PROVIDER_NAMES = Object.keys(OAUTH_PRESETS) as [OAuthProviderName, ...OAuthProviderName[]];

/** The IMAP hosts of Gmail (and of its older googlemail.com name). */
const GMAIL_HOSTS = new Set(['imap.gmail.com', 'imap.googlemail.com']);

/**
 * What the provider of an upstream server allows an account, known by its host name whatever
 * the account logs in with: Gmail's limits hold for app passwords as for OAuth2.
 */
export function providerLimitsOf(upstream: UpstreamEndpoint | undefined): ProviderLimits | undefined {
  return upstream && GMAIL_HOSTS.has(upstream.host.toLowerCase().replace(/\.$/, '')) ? OAUTH_PRESETS.gmail.limits : undefined;
}
