import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { pino } from 'pino';
import { isProxyError } from '../../src/model/errors.js';
import { LOCKOUT_MAX_MS, LOCKOUT_MIN_MS, THROTTLE_CLIENT_WAIT_MS, THROTTLE_DEFAULT_MS } from '../../src/model/limits.js';
import { connectRefusal, isLockoutAnswer, throttleHint, UpstreamBackoff } from '../../src/upstream/backoff.js';

const log = pino({ level: 'silent' });

describe('throttle hints', () => {
  test('Microsoft 365: the suggested backoff time, in milliseconds, from BAD or NO text', () => {
    assert.equal(throttleHint('Request is throttled. Suggested Backoff Time: 299910 milliseconds'), 299910);
    assert.equal(throttleHint('Request is throttled. Suggested Backoff Time: 500 milliseconds'), 500);
    assert.equal(throttleHint('request is throttled. suggested backoff time=42 ms'), 42);
    assert.equal(throttleHint('Request is throttled. Suggested Backoff Time: 3 seconds'), 3000);
  });

  test('a throttle answer without a number: Gmail [THROTTLED], a rate limit', () => {
    assert.equal(throttleHint('Success [THROTTLED]'), null);
    assert.equal(throttleHint('CAPABILITY Rate limit hit.'), null);
    assert.equal(throttleHint('Request is throttled.'), null);
  });

  test('other answers are no throttle answers', () => {
    for (const text of ['', 'Mailbox doesn\'t exist: Foo', 'Invalid credentials (Failure)', 'Too many simultaneous connections. (Failure)', 'Error in IMAP command UID FETCH: Invalid messageset']) {
      assert.equal(throttleHint(text), undefined, text);
    }
  });

  test('connection refusals: a BYE greeting, too many connections, [UNAVAILABLE], a throttled login; not a refused password', () => {
    assert.deepEqual(connectRefusal({ bye: 'Too many connections' }), { reason: 'Too many connections' });
    assert.deepEqual(connectRefusal({ status: 'NO', code: 'ALERT', text: 'Too many simultaneous connections. (Failure)' }), { reason: 'Too many simultaneous connections. (Failure)' });
    assert.ok(connectRefusal({ status: 'NO', code: 'UNAVAILABLE', text: 'Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)' }));
    assert.deepEqual(connectRefusal({ status: 'BAD', text: 'Request is throttled. Suggested Backoff Time: 1200 milliseconds' }), {
      reason: 'Request is throttled. Suggested Backoff Time: 1200 milliseconds',
      retryAfterMs: 1200,
    });
    assert.equal(connectRefusal({ status: 'NO', code: 'AUTHENTICATIONFAILED', text: 'Authentication failed.' }), undefined);
    assert.equal(connectRefusal({ status: 'NO', text: '[ALERT] Invalid credentials (Failure)' }), undefined);
    assert.equal(connectRefusal({}), undefined);
  });
});

describe('UpstreamBackoff', () => {
  test('a hint pauses every turn for at least that long, plus at most a tenth of jitter', async () => {
    const backoff = new UpstreamBackoff(log);
    backoff.throttled(120, 'UID FETCH');
    const started = Date.now();
    const waited = await backoff.turn(Infinity, 'UID FETCH');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 115 && waited >= 115, `waited ${elapsed} ms`);
    assert.ok(waited <= 120 * 1.1 + 1, `jitter ${waited - 120} ms`);
    assert.equal(await backoff.turn(Infinity, 'UID FETCH'), 0, 'the pause is over');
  });

  test('a turn waits on when another answer lengthened the pause meanwhile', async () => {
    const backoff = new UpstreamBackoff(log, () => 0);
    backoff.throttled(60, 'UID FETCH');
    const started = Date.now();
    const turn = backoff.turn(Infinity, 'EXAMINE');
    setTimeout(() => backoff.throttled(100, 'EXAMINE'), 30);
    await turn;
    assert.ok(Date.now() - started >= 125, `waited ${Date.now() - started} ms`);
    backoff.close();
  });

  test('a pause longer than the patience is refused at once with UPSTREAM_THROTTLED and the time left', async () => {
    const backoff = new UpstreamBackoff(log);
    backoff.throttled(60_000, 'SELECT');
    const started = Date.now();
    await assert.rejects(backoff.turn(15_000, 'SELECT'), (err: unknown) => {
      assert.ok(isProxyError(err, 'UPSTREAM_THROTTLED'));
      assert.match(err.clientText ?? '', /throttling this account; try again in 60 s/);
      return true;
    });
    assert.ok(Date.now() - started < 50);
    backoff.close();
  });

  test('throttle answers without a number in a row pause longer each time; a command that goes through starts again', () => {
    const backoff = new UpstreamBackoff(log, () => 0);
    assert.equal(backoff.throttled(null, 'NOOP'), THROTTLE_DEFAULT_MS);
    assert.equal(backoff.throttled(null, 'NOOP'), 2 * THROTTLE_DEFAULT_MS);
    assert.equal(backoff.throttled(null, 'NOOP'), 4 * THROTTLE_DEFAULT_MS);
    backoff.succeeded();
    assert.equal(backoff.throttled(null, 'NOOP'), THROTTLE_DEFAULT_MS);
    backoff.close();
  });

  test('the pause is logged once for each answer that lengthens it, with the wait', () => {
    const lines: Record<string, unknown>[] = [];
    const backoff = new UpstreamBackoff(pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }));
    backoff.throttled(5_000, 'UID FETCH');
    backoff.throttled(100, 'EXAMINE'); // within the pause already taken
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['waitMs'], 5_000);
    assert.equal(lines[0]?.['action'], 'UID FETCH');
    assert.equal(lines[0]?.['level'], 30);
    backoff.close();
  });

  test('a turn ends when its connection closes', async () => {
    const backoff = new UpstreamBackoff(log);
    backoff.throttled(10_000, 'UID FETCH');
    const closing = new AbortController();
    const turn = backoff.turn(Infinity, 'UID FETCH', closing.signal);
    closing.abort();
    await assert.rejects(turn, (err: unknown) => isProxyError(err, 'UPSTREAM_UNAVAILABLE'));
    backoff.close();
  });

  test("'resume' comes when the pause is over by Date.now(), though the timer fires a millisecond early", (t) => {
    let now = 1_000_000;
    t.mock.method(Date, 'now', () => now);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const backoff = new UpstreamBackoff(log);
    const left: number[] = [];
    backoff.on('resume', () => left.push(backoff.pausedMs));
    backoff.throttled(100, 'UID FETCH');
    now += 99; // the monotonic timer's 100 ms, the wall clock's 99
    t.mock.timers.tick(100);
    assert.deepEqual(left, [], 'not yet: 1 ms of the pause is left');
    now += 1;
    t.mock.timers.tick(1);
    assert.deepEqual(left, [0]);
    backoff.close();
  });

  test('every turn ends when the account closes, one without a connection too (the watcher waiting to connect during a lockout)', async () => {
    const backoff = new UpstreamBackoff(log);
    backoff.throttled(300_000, 'LOGIN');
    const connecting = backoff.turn(Infinity, 'connect');
    const fetching = backoff.turn(Infinity, 'UID FETCH', new AbortController().signal);
    backoff.close();
    await assert.rejects(connecting, (err: unknown) => isProxyError(err, 'UPSTREAM_UNAVAILABLE'));
    await assert.rejects(fetching, (err: unknown) => isProxyError(err, 'UPSTREAM_UNAVAILABLE'));
  });

  test('refused connections: the next attempt waits longer each time, or as long as upstream said', () => {
    const backoff = new UpstreamBackoff(log, () => 0);
    const first = backoff.refused();
    const second = backoff.refused();
    assert.equal(second, 2 * first);
    assert.equal(backoff.refused(7_000), 7_000);
    backoff.connected();
    assert.equal(backoff.refused(), first);
  });

  test('lockout answers: Gmail\'s text with any code or in a BYE; OVERQUOTA alone only to a login (to an APPEND it is a full mailbox)', () => {
    const gmail = 'Account exceeded command or bandwidth limits. (Failure)';
    assert.ok(isLockoutAnswer(gmail, 'OVERQUOTA', false));
    assert.ok(isLockoutAnswer(gmail, undefined, false));
    assert.ok(isLockoutAnswer('Try again later', 'OVERQUOTA', true));
    assert.ok(!isLockoutAnswer('Quota exceeded (mailbox full)', 'OVERQUOTA', false));
    assert.ok(!isLockoutAnswer('Request is throttled.', undefined, true));
    assert.deepEqual(connectRefusal({ status: 'NO', code: 'ALERT', text: gmail }), { reason: gmail, lockout: true });
    assert.deepEqual(connectRefusal({ status: 'NO', code: 'UNAVAILABLE', text: gmail }), { reason: gmail, lockout: true });
    assert.deepEqual(connectRefusal({ status: 'NO', code: 'OVERQUOTA', text: '' }), { reason: '[OVERQUOTA]', lockout: true });
    assert.deepEqual(connectRefusal({ bye: gmail }), { reason: gmail, lockout: true });
  });

  test('a lockout pauses the account for minutes, logged once; refused again after the pause, longer; a command after the pause ends it', async (t) => {
    t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    t.after(() => mock.timers.reset());
    const lines: Record<string, unknown>[] = [];
    const backoff = new UpstreamBackoff(pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }), () => 0);
    assert.equal(backoff.lockedOut('Account exceeded command or bandwidth limits.', 'UID FETCH'), LOCKOUT_MIN_MS);
    assert.equal(backoff.pausedMs, LOCKOUT_MIN_MS);
    // told again by another connection during the pause: the same lockout
    t.mock.timers.tick(1000);
    assert.equal(backoff.lockedOut('Account exceeded command or bandwidth limits.', 'SELECT'), LOCKOUT_MIN_MS - 1000);
    // a command that was under way does not end it; a client does not wait for it
    backoff.succeeded();
    assert.deepEqual(backoff.lockout, { since: 1_000_000, until: 1_000_000 + LOCKOUT_MIN_MS, reason: 'Account exceeded command or bandwidth limits.' });
    await assert.rejects(backoff.turn(THROTTLE_CLIENT_WAIT_MS, 'UID FETCH'), (err: unknown) => isProxyError(err, 'UPSTREAM_THROTTLED') && err.context['lockout'] === true && /limits this account/.test(err.clientText ?? ''));
    // refused again after the pause: twice as long, not logged again
    t.mock.timers.tick(LOCKOUT_MIN_MS);
    assert.equal(backoff.lockedOut('Account exceeded command or bandwidth limits.', 'LOGIN'), 2 * LOCKOUT_MIN_MS);
    assert.equal(lines.filter((l) => l['level'] === 40).length, 1, 'logged once');
    t.mock.timers.tick(2 * LOCKOUT_MIN_MS);
    backoff.succeeded();
    assert.equal(backoff.lockout, undefined);
    assert.equal(lines.at(-1)?.['msg'], 'upstream accepts the account again');
    // soon after, the pauses go on growing; long after, they start over
    assert.equal(backoff.lockedOut('again', 'UID FETCH'), 4 * LOCKOUT_MIN_MS);
    t.mock.timers.tick(4 * LOCKOUT_MIN_MS);
    backoff.succeeded();
    t.mock.timers.tick(2 * LOCKOUT_MAX_MS + 1);
    assert.equal(backoff.lockedOut('again', 'UID FETCH'), LOCKOUT_MIN_MS);
    backoff.close();
  });
});
