import { after, before } from 'node:test';

/**
 * Keeps the event loop alive for the tests of the surrounding describe(). The code under test
 * waits on unreferenced timers (a throttle pause, the next day: background work that must not
 * keep a stopping process alive); Node.js 22's test runner cancels a test whose only pending
 * work is such a timer, Node.js 24+ waits for it.
 */
export function holdEventLoop(): void {
  let hold: NodeJS.Timeout | undefined;
  before(() => {
    hold = setInterval(() => undefined, 60_000);
  });
  after(() => clearInterval(hold));
}
