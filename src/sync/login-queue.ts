import { createHash, timingSafeEqual } from 'node:crypto';

const digestOf = (pass: string) => createHash('sha256').update(pass, 'utf8').digest();

/**
 * The upstream logins of each account, one at a time: every login opens an upstream connection,
 * and the account's cap on connections counts them. A login with the password of the one under
 * way shares its outcome (several clients logging in at the same moment cost one upstream
 * login); one with another password waits until it ends, then goes upstream itself.
 */
export class LoginQueue<T> {
  private readonly current = new Map<string, { digest: Buffer; outcome: Promise<T> }>();

  async run(key: string, pass: string, login: () => Promise<T>): Promise<T> {
    const digest = digestOf(pass);
    for (let running = this.current.get(key); running; running = this.current.get(key)) {
      if (timingSafeEqual(running.digest, digest)) return running.outcome;
      await running.outcome.catch(() => undefined);
    }
    const entry = { digest, outcome: login() };
    this.current.set(key, entry);
    try {
      return await entry.outcome;
    } finally {
      if (this.current.get(key) === entry) this.current.delete(key);
    }
  }
}
