// imap-core 1.51.1 still throws on these inputs (an uncaught TypeError or a regular expression V8
// refuses, each answered `* BYE Internal error` with the connection closed): the proxy answers
// them before imap-core sees them (src/imap/core-patches.ts), and the session goes on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateCorpus } from '../support/corpus.js';
import { withDovecot } from '../support/dovecot.js';
import { deliver } from '../support/maildir.js';
import { startTestProxy } from '../support/proxy.js';
import { type RawImapClient, suiteClients } from '../support/raw-client.js';

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

/** Every response the server sends until it closes the connection. */
async function responsesUntilClosed(client: RawImapClient): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    try {
      lines.push((await client.readResponse()).toString('latin1'));
    } catch {
      return lines;
    }
  }
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

  test('APPEND with NIL for the mailbox and no message: BAD, no exception', async () => {
    assert.match(await answerTo('APPEND NIL "x"'), /BAD Invalid date-time in APPEND/);
    assert.match(await answerTo('APPEND'), /BAD APPEND needs a mailbox name/);
  });

  test('LITERAL+: literals the client sends without waiting, in LOGIN, APPEND and SEARCH, as Dovecot takes them; no continuation request', async () => {
    const message = 'From: a@example.org\r\nSubject: literal plus\r\n\r\nhello\r\n';
    const script =
      `a1 LOGIN {4+}\r\ntest {4+}\r\npass\r\na2 SELECT INBOX\r\na3 APPEND INBOX {${message.length}+}\r\n${message}\r\n` +
      'a4 UID SEARCH SUBJECT {12+}\r\nliteral plus\r\na5 LOGOUT\r\n';
    const answers = async (port: number) => {
      const client = await connect(port, { login: false });
      client.write(script);
      return responsesUntilClosed(client);
    };
    for (const lines of [await answers(dovecot.port), await answers(proxy.port)]) {
      assert.deepEqual(lines.filter((l) => /^a\d /.test(l)).map((l) => l.split(' ').slice(0, 2).join(' ')), ['a1 OK', 'a2 OK', 'a3 OK', 'a4 OK', 'a5 OK']);
      assert.ok(!lines.some((l) => l.startsWith('+')), 'no continuation request');
    }
    // Dovecot may run the pipelined SEARCH before the APPEND; the proxy runs commands in order
    assert.match((await answers(proxy.port)).find((l) => l.startsWith('* SEARCH')) ?? '', /^\* SEARCH( \d+)+$/);
  });

  test('LITERAL+ over the size limit: NO [TOOBIG], then the connection ends (its bytes cannot be skipped)', async () => {
    const client = await connect(proxy.port);
    client.write(`a1 APPEND INBOX {${2 ** 30}+}\r\n${'x'.repeat(1000)}`);
    const lines = await responsesUntilClosed(client);
    assert.match(lines.join('\n'), /a1 NO \[TOOBIG\][^\n]*\n\* BYE The literal was refused/);
  });

  test('the proxy logged no exception', () => {
    assert.equal(proxy.logs.filter((line) => Number(line['level']) >= 50).length, 0, proxy.logText().slice(-2000));
  });
});
