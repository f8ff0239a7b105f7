// imap-core 1.51.1 still throws on these inputs (an uncaught TypeError or a regular expression V8
// refuses, each answered `* BYE Internal error` with the connection closed): the proxy answers
// them before imap-core sees them (src/imap/core-patches.ts), and the session goes on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { suiteClients } from '../support/raw-client.js';

const dovecot = await withDovecot();
await deliver(dovecot.mailDir(), generateCorpus({ seed: 12, messages: 5, folders: 'INBOX:1' }));
const proxy = await startTestProxy(dovecot);
const connect = suiteClients();

/** Sends `command`, returns its tagged answer; the session must still answer a NOOP after it. */
async function answerTo(command: string): Promise<string> {
  const client = await connect(proxy.port);
  const { tagged } = await client.command(command);
  assert.match((await client.command('NOOP')).tagged, /OK/, `the session goes on after ${command.slice(0, 40)}`);
  return tagged;
}

describe('imap-core inputs the proxy answers itself', () => {
  test('LIST with a pattern of 30,000 wildcards and atoms: BAD, not a regular expression V8 refuses', async () => {
    assert.match(await answerTo(`LIST "${'%a'.repeat(30_000)}" "*"`), /BAD Mailbox name pattern too long/);
  });

  test('LSUB with an empty mailbox name: OK with nothing listed, as Dovecot answers', async () => {
    assert.match(await answerTo('LSUB "" ""'), /OK/);
  });

  test('ENABLE without a capability: BAD', async () => {
    assert.match(await answerTo('ENABLE'), /BAD ENABLE needs at least one capability/);
  });

  test('APPEND with NIL for the mailbox: BAD before the literal is read', async () => {
    assert.match(await answerTo('APPEND NIL "x"'), /BAD APPEND needs a mailbox name first/);
  });

  test('the proxy logged no exception', () => {
    assert.equal(proxy.logs.filter((line) => Number(line['level']) >= 50).length, 0, proxy.logText().slice(-2000));
  });
});
