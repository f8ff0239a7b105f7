import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import {
  LOCKOUT_MAX_MS,
  LOCKOUT_MIN_MS,
  REFUSED_RETRY_MAX_MS,
  REFUSED_RETRY_MIN_MS,
  THROTTLE_DEFAULT_MAX_MS,
  THROTTLE_DEFAULT_MS,
  THROTTLE_JITTER,
  THROTTLE_JITTER_MAX_MS,
  THROTTLE_MAX_MS,
} from '../model/limits.js';

/**
 * How a server says "slow down" (from the providers' answers as their users reported them):
 * - Microsoft 365: `<tag> BAD Request is throttled. Suggested Backoff Time: 299910 milliseconds`
 *   (also as NO), the pause in the text;
 * - Gmail: `[THROTTLED]` at the end of an answer's text while it slows the account down
 *   (mscdex/node-imap#593: `OK Success [THROTTLED]`), no number;
 * - Yahoo: `NO [LIMIT] CAPABILITY Rate limit hit.` (postalsys/imapflow#75), no number.
 */
const BACKOFF_TIME = /backoff time[:=\s]+(\d+)\s*(milliseconds?|ms|seconds?|s)?\b/i;
const THROTTLED = /\[THROTTLED\]|\brequest is throttled\b|\brate limit\b|\btoo many requests\b/i;

/**
 * How a server refuses another connection of an account: Gmail `NO [ALERT] Too many
 * simultaneous connections. (Failure)` at LOGIN, Dovecot `NO [UNAVAILABLE] Maximum number of
 * connections from user+IP exceeded`, others a `* BYE` greeting.
 */
const TOO_MANY_CONNECTIONS = /too many (simultaneous |concurrent )?(connections|sessions)|maximum number of (connections|sessions)|connection limit/i;

/**
 * How a server says it locks the account out for a long while (hours), not just slows it down:
 * Gmail `NO [OVERQUOTA] Account exceeded command or bandwidth limits.` to a FETCH
 * (ljmerza/ha-email-sensor#16), the same text to LOGIN, with [ALERT] or [UNAVAILABLE], or in a
 * BYE, once an account downloaded about 2.5 GB in a day or sent too many commands.
 */
const LOCKED_OUT = /exceeded (its |the )?(command or )?bandwidth limits?|bandwidth limits? exceeded|account exceeded command/i;

/**
 * Whether a NO or BAD (or a BYE) says the server locks the account out: Gmail's text; or, to a
 * login (which no storage quota can refuse), the response code OVERQUOTA (RFC 5530). To an
 * APPEND or COPY, OVERQUOTA alone is a full mailbox, no lockout.
 */
export function isLockoutAnswer(text: string, code: string | undefined, login: boolean): boolean {
  return LOCKED_OUT.test(text) || (login && code?.toUpperCase() === 'OVERQUOTA');
}

/**
 * The pause a NO, BAD or OK answer's text asks for: its milliseconds, null when it says "slow
 * down" without a number, undefined when it is no throttle answer.
 */
export function throttleHint(text: string): number | null | undefined {
  const time = BACKOFF_TIME.exec(text);
  if (time) return Number(time[1]) * (/^s/i.test(time[2] ?? '') ? 1000 : 1);
  return THROTTLED.test(text) ? null : undefined;
}

/** How a connect or login ended, as far as refusals go (the upstream adapter fills it in from its library's error). */
export interface ConnectFailure {
  /** The tagged answer to LOGIN or AUTHENTICATE, when there was one. */
  status?: string;
  text?: string;
  /** Its response code, e.g. UNAVAILABLE, ALERT. */
  code?: string;
  /** The text of a BYE the server closed the connection with before the login. */
  bye?: string;
}

/**
 * Whether upstream refused the connection for now rather than the credentials or for good: a BYE
 * instead of (or after) the greeting, a login answered "too many connections", NO
 * [UNAVAILABLE] (RFC 5530: a temporary failure) or a throttle answer. `retryAfterMs` when it
 * said how long to wait.
 */
export function connectRefusal(failure: ConnectFailure): { reason: string; retryAfterMs?: number; lockout?: true } | undefined {
  if (failure.bye !== undefined) return { reason: failure.bye || 'BYE at the greeting', ...(isLockoutAnswer(failure.bye, undefined, true) ? { lockout: true } : {}) };
  if (failure.status !== 'NO' && failure.status !== 'BAD') return undefined;
  const text = failure.text ?? '';
  if (isLockoutAnswer(text, failure.code, true)) return { reason: text || `[${failure.code}]`, lockout: true };
  const hint = throttleHint(text);
  if (hint !== undefined) return { reason: text, ...(hint !== null ? { retryAfterMs: hint } : {}) };
  if (failure.code?.toUpperCase() === 'UNAVAILABLE' || TOO_MANY_CONNECTIONS.test(text)) return { reason: text };
  return undefined;
}

/** What a client is told when a pause upstream asked for is longer than it may wait. */
export function throttledError(remainingMs: number, action: string): ProxyError {
  const seconds = Math.ceil(remainingMs / 1000);
  return new ProxyError('UPSTREAM_THROTTLED', `upstream asked to pause for ${remainingMs} ms more, longer than ${action} may wait`, {
    context: { retryAfterMs: remainingMs, action },
    clientText: `The mail server is throttling this account; try again in ${seconds} s`,
  });
}

/** What a client is told of a lockout (with when to try again). */
export const LOCKED_OUT_TEXT = 'The mail server limits this account (too many commands or downloads)';

/** What a client is told while the server locks the account out (UPSTREAM_THROTTLED: `NO [UNAVAILABLE]`). */
export function lockedOutError(remainingMs: number, reason: string, action: string): ProxyError {
  const minutes = Math.ceil(remainingMs / 60_000);
  return new ProxyError('UPSTREAM_THROTTLED', `upstream locks the account out (${reason}); ${remainingMs} ms until the next try`, {
    context: { retryAfterMs: remainingMs, action, lockout: true },
    clientText: `${LOCKED_OUT_TEXT}; what is not cached can be fetched again in about ${minutes} min`,
  });
}

/** An account-wide lockout by the server: since when, until when the proxy leaves it alone, what the server said. */
export interface Lockout {
  since: number;
  until: number;
  reason: string;
}

/**
 * The pace of one account's upstream traffic: a throttle answer pauses every command of the
 * account (all its connections) for the time upstream asked, or, without a number, for a time
 * that doubles with each throttle answer in a row; each wait gets jitter on top. Refused
 * connections are retried after a delay that doubles the same way. Emits 'resume' when a pause
 * ends. The connections (upstream-connection.ts) wait their turn here; the pool
 * (connection-pool.ts) holds background work back meanwhile.
 */
export class UpstreamBackoff extends EventEmitter {
  private until = 0;
  /** Throttle answers without a number in a row. */
  private streak = 0;
  /** Refused connects in a row. */
  private refusals = 0;
  /** The server locks the account out: the pause is the lockout's, until a command or login goes through again. */
  private locked: Lockout | undefined;
  /** Lockout answers in a row (each after the pause of the one before). */
  private lockouts = 0;
  private lastLockoutAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Ends every wait in turn() when the account closes (a lockout's pause is minutes long). */
  private readonly closing = new AbortController();

  constructor(
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {
    super();
  }

  /** Milliseconds left of the pause upstream asked for (0: none). */
  get pausedMs(): number {
    return Math.max(0, this.until - Date.now());
  }

  /** Upstream answered `action` with a throttle answer: its hint in ms, or null for none. Returns the pause. */
  throttled(hint: number | null, action: string): number {
    if (hint === null) this.streak++;
    const pause = Math.min(hint ?? THROTTLE_DEFAULT_MS * 2 ** Math.min(this.streak - 1, 16), hint === null ? THROTTLE_DEFAULT_MAX_MS : THROTTLE_MAX_MS);
    const until = Date.now() + pause;
    if (until <= this.until) return pause; // within the pause already taken
    this.until = until;
    this.log.info({ action, waitMs: pause, ...(hint !== null ? { hintMs: hint } : {}) }, 'upstream throttles the account: its upstream commands pause');
    this.resumeWhenDone();
    return pause;
  }

  /**
   * 'resume' once the pause is over by the wall clock it is kept in: a timer runs on the monotonic
   * clock and may fire a millisecond before Date.now() reaches the end, when work that looks
   * at pausedMs would still wait, with nothing to wake it again (a pool test waited 10 minutes).
   */
  private resumeWhenDone(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.pausedMs > 0 ? this.resumeWhenDone() : this.emit('resume')), Math.max(1, this.pausedMs)).unref();
  }

  /** A command went through without a throttle answer. */
  succeeded(): void {
    this.streak = 0;
    // a command that was under way when the lockout came does not end it: one sent after the pause does
    if (this.locked && Date.now() >= this.locked.until) this.unlocked();
  }

  /** The server locks the account out, since when and until when nothing is tried; undefined: it does not. */
  get lockout(): Lockout | undefined {
    return this.locked;
  }

  /** While the server locks the account out for longer than `patienceMs`: the error `action` fails with at once. */
  lockedOutFor(action: string, patienceMs = 0): ProxyError | undefined {
    const left = this.pausedMs;
    return this.locked && left > patienceMs ? lockedOutError(left, this.locked.reason, action) : undefined;
  }

  /**
   * Upstream answered `action` saying it locks the account out: every command and login of the
   * account pauses (LOCKOUT_MIN_MS, doubling with each such answer after a pause, up to
   * LOCKOUT_MAX_MS; a lockout more than twice that after the last starts over). Logged once when
   * it begins, and when a command goes through again. Returns the pause.
   */
  lockedOut(reason: string, action: string): number {
    const now = Date.now();
    if (this.locked && now < this.until) return this.until - now; // the same lockout, told by another connection
    // a lockout long after the last one starts the pauses over
    if (now - this.lastLockoutAt > 2 * LOCKOUT_MAX_MS) this.lockouts = 0;
    this.lastLockoutAt = now;
    this.lockouts++;
    const pause = Math.min(LOCKOUT_MIN_MS * 2 ** Math.min(this.lockouts - 1, 16), LOCKOUT_MAX_MS);
    const begins = !this.locked;
    if (begins) this.log.warn({ action, reason, waitMs: pause }, 'upstream locks the account out: no upstream command or login until the pause ends; cached mail is served');
    else this.log.debug({ action, waitMs: pause }, 'upstream still locks the account out: a longer pause');
    this.locked = { since: this.locked?.since ?? now, until: now + pause, reason };
    this.until = Math.max(this.until, now + pause);
    this.resumeWhenDone();
    if (begins) this.emit('locked');
    return pause;
  }

  private unlocked(): void {
    this.log.info({ lockedForMs: Date.now() - (this.locked?.since ?? Date.now()) }, 'upstream accepts the account again');
    this.locked = undefined;
  }

  /**
   * Waits out the pause, with jitter, and a pause that another answer lengthened meanwhile;
   * returns how long it waited. A wait longer than `patienceMs` is not begun: UPSTREAM_THROTTLED
   * at once. An abort (the connection or the account closes) ends the wait with UPSTREAM_UNAVAILABLE.
   */
  async turn(patienceMs: number, action: string, signal?: AbortSignal): Promise<number> {
    let waited = 0;
    for (let left = this.pausedMs; left > 0; left = this.pausedMs) {
      const wait = left + this.jitter(left);
      if (waited + wait > patienceMs) throw this.locked ? lockedOutError(left, this.locked.reason, action) : throttledError(left, action);
      try {
        // kept referenced: a command waits on it (an abort ends it when the connection or the account closes)
        await sleep(wait, undefined, { signal: signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal });
      } catch (err) {
        throw new ProxyError('UPSTREAM_UNAVAILABLE', 'the upstream connection or the account closed during a pause', { cause: err });
      }
      waited += wait;
    }
    return waited;
  }

  /** Upstream refused a connection: how long until the next attempt (its hint, or a delay doubling with each refusal in a row), with jitter. */
  refused(retryAfterMs?: number): number {
    this.refusals++;
    const base = retryAfterMs ?? Math.min(REFUSED_RETRY_MIN_MS * 2 ** Math.min(this.refusals - 1, 16), REFUSED_RETRY_MAX_MS);
    return base + this.jitter(base);
  }

  /** A connect went through (no sign the lockout ended: Gmail may take the login and refuse the FETCH). */
  connected(): void {
    this.refusals = 0;
  }

  jitter(ms: number): number {
    return Math.round(this.random() * Math.min(ms * THROTTLE_JITTER, THROTTLE_JITTER_MAX_MS));
  }

  close(): void {
    clearTimeout(this.timer);
    this.closing.abort();
  }
}
