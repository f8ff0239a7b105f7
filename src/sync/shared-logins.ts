import { createHash, timingSafeEqual } from 'node:crypto';

const digestOf = (pass: string) => createHash('sha256').update(pass, 'utf8').digest();

/**
 * The upstream logins under way, per account: a login with the password of one under way shares
 * its outcome (several clients logging in at the same moment cost one upstream login, and one
 * connection against the account's cap). One with another password goes at once: queued behind a
 * wrong one, the owner's right password would wait out the server's delay for every failure an
 * attacker sent first.
 */
export class SharedLogins<T> {
  private readonly current = new Map<string, Set<{ digest: Buffer; outcome: Promise<T> }>>();

  async run(key: string, pass: string, login: () => Promise<T>): Promise<T> {
    const digest = digestOf(pass);
    const running = this.current.get(key) ?? new Set();
    for (const entry of running) if (timingSafeEqual(entry.digest, digest)) return entry.outcome;
    const entry = { digest, outcome: login() };
    running.add(entry);
    this.current.set(key, running);
    try {
      return await entry.outcome;
    } finally {
      running.delete(entry);
      if (running.size === 0 && this.current.get(key) === running) this.current.delete(key);
    }
  }
}
