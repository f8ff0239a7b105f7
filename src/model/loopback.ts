const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** A listen address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}
