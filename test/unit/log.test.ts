import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { imapflowLogger } from '../../src/log.js';

describe('imapflowLogger', () => {
  test('tells imapflow that trace and debug are off, so it serialises no protocol line for them', () => {
    const logger = imapflowLogger(pino({ level: 'trace' }));
    assert.deepEqual(['trace', 'debug', 'info', 'warn', 'error'].map((level) => logger.isLevelEnabled(level)), [false, false, true, true, true]);
  });
});
