/**
 * imap-core asks its notifier for changes to push to sessions (IDLE, NOOP, after commands).
 * Until live updates exist, there is nothing to push.
 */
export function createNotifier() {
  return {
    addListener: () => undefined,
    removeListener: () => undefined,
    getUpdates: (_mailbox: unknown, _modifyIndex: unknown, callback: (err: null, updates: unknown[]) => void) => callback(null, []),
  };
}
