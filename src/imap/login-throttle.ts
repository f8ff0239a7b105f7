import { createHash } from 'node:crypto';
import {
  LOGIN_BACKOFF_MAX_MS,
  LOGIN_BACKOFF_MIN_MS,
  LOGIN_FAILURES_FORGET_MS,
  LOGIN_FAILURES_PER_IP,
  LOGIN_FAILURES_PER_USER,
  LOGIN_THROTTLE_ENTRIES,
} from '../model/limits.js';

interface Failures {
  count: number;
  last: number;
  /** No attempt before this time. */
  until: number;
}

/**
 * Failed attempts per key, with a backoff once `allowed` failures are reached: it starts at
 * LOGIN_BACKOFF_MIN_MS and doubles with every further failure. At most LOGIN_THROTTLE_ENTRIES
 * keys are kept, the least recently failed are dropped first (a Map keeps insertion order).
 */
class FailureCounter {
  private readonly entries = new Map<string, Failures>();

  constructor(private readonly allowed: number) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  waitMs(key: string, now: number): number {
    const entry = this.current(key, now);
    return entry ? Math.max(0, entry.until - now) : 0;
  }

  fail(key: string, now: number): void {
    const count = (this.current(key, now)?.count ?? 0) + 1;
    const backoff = count < this.allowed ? 0 : Math.min(LOGIN_BACKOFF_MIN_MS * 2 ** (count - this.allowed), LOGIN_BACKOFF_MAX_MS);
    this.entries.delete(key);
    this.entries.set(key, { count, last: now, until: now + backoff });
    if (this.entries.size > LOGIN_THROTTLE_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** The entry of `key` unless its last failure is old enough to be forgotten. */
  private current(key: string, now: number): Failures | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.last > LOGIN_FAILURES_FORGET_MS) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

/**
 * Failed logins per user and per client address. Past a few failures, further attempts wait
 * out a growing backoff and are refused without asking upstream, so that a client retrying a
 * stale password (or someone guessing) cannot get the upstream account locked.
 */
export class LoginThrottle {
  private readonly users = new FailureCounter(LOGIN_FAILURES_PER_USER);
  private readonly addresses = new FailureCounter(LOGIN_FAILURES_PER_IP);

  constructor(private readonly clock: () => number = Date.now) {}

  /** Milliseconds until this user may try again from this address; 0 when it may now. */
  waitMs(user: string, address: string): number {
    const now = this.clock();
    return Math.max(this.users.waitMs(userKey(user), now), this.addresses.waitMs(address, now));
  }

  failed(user: string, address: string): void {
    const now = this.clock();
    this.users.fail(userKey(user), now);
    this.addresses.fail(address, now);
  }

  /** A success clears the user's failures, and the address's: a client there knows its password
   * (every local client shares 127.0.0.1, and one with a stale password must not lock out the rest). */
  succeeded(user: string, address: string): void {
    this.users.reset(userKey(user));
    this.addresses.reset(address);
  }
}

/** A user name of any length (up to a whole command line) takes a fixed size as a key. */
function userKey(user: string): string {
  return createHash('sha256').update(user.toLowerCase()).digest('base64');
}
