import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { makeFetchHandler, type FetchTools } from '../../src/imap/fetch-command.js';
import type { FetchOptions } from '../../src/imap/imap-core.js';

// imap-core unpatched (this file applies no patches): its own FETCH handler is the reference
const require = createRequire(import.meta.url);
const core = (file: string) => require(`@zone-eu/wildduck/imap-core/lib/${file}.js`) as Record<string, unknown>;
const { parser, compiler } = core('handler/imap-handler') as { parser(line: string): { command: string; attributes: unknown[] }; compiler(response: unknown): string };
const tools = core('imap-tools') as unknown as Omit<FetchTools, 'compile'>;
const original = (core('commands/fetch') as { handler: Handler }).handler;
const replacement = makeFetchHandler({ fetchSchema: tools.fetchSchema, validateSequence: tools.validateSequence, compile: compiler }) as unknown as Handler;

type Handler = (this: object, command: unknown, callback: (err: Error | null, answer?: unknown) => void) => void;

interface Outcome {
  error?: string;
  answer?: unknown;
  options?: Omit<FetchOptions, 'query'> & { query: object[] };
  condstore: { connection: boolean; mailbox: boolean };
}

/** Runs one FETCH command line through a handler, on a mailbox of UIDs 2, 4, 6, 8; what onFetch got, and the answer. */
function run(handler: Handler, line: string, { readOnly = false, condstore = false } = {}): Outcome {
  const selected = { uidList: [2, 4, 6, 8], mailbox: 'mbox', path: 'INBOX', readOnly, condstoreEnabled: condstore, modifyIndex: 1, notifications: [] };
  let options: FetchOptions | undefined;
  const connection = {
    id: 'c1',
    session: { id: 's1', user: { id: 'u1' } },
    selected,
    condstoreEnabled: condstore,
    _server: {
      logger: { debug: () => undefined },
      loggelf: () => undefined,
      onFetch(_mailbox: string, given: FetchOptions, _session: unknown, done: (err: Error | null, success: boolean) => void) {
        options = given;
        done(null, true);
      },
    },
  };
  const outcome: Outcome = { condstore: { connection: false, mailbox: false } };
  handler.call(connection, parser(line), (err, answer) => {
    if (err) outcome.error = err.message;
    else outcome.answer = answer;
  });
  outcome.condstore = { connection: connection.condstoreEnabled, mailbox: selected.condstoreEnabled };
  if (options) {
    // what FetchOptions declares: imap-core also gives flags of which items were asked and, per
    // item, its text and parsed token, which no handler of the proxy reads
    const { messages, markAsSeen, changedSince, isUid, metadataOnly } = options;
    const query = options.query.map((item) => {
      const { query: _text, original: _token, ...rest } = item as typeof item & { query?: string; original?: unknown };
      return rest;
    });
    outcome.options = { messages, query, markAsSeen, changedSince, isUid, metadataOnly };
  }
  return outcome;
}

const LINES = [
  'A FETCH 1:* FLAGS',
  'A FETCH 1,3:4 (FLAGS UID)',
  'A UID FETCH 4:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject)])',
  'A UID FETCH 1:* FLAGS',
  'A FETCH 2 ALL',
  'A FETCH 2 fast',
  'A FETCH 2 FULL',
  'A FETCH 2 (BODY[])',
  'A FETCH 2 (BODY[TEXT] RFC822.HEADER)',
  'A FETCH 2 RFC822',
  'A FETCH 2 (RFC822.TEXT BODY.PEEK[1.2.MIME] BODY.PEEK[2]<0.100> BODY[]<5>)',
  'A FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (Received)] BODY.PEEK[1.HEADER])',
  'A FETCH 2 (BODYSTRUCTURE ENVELOPE INTERNALDATE BODY)',
  'A UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)',
  'A UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)',
  'A FETCH 1:* (UID MODSEQ) (CHANGEDSINCE 7)',
  'A FETCH * (MODSEQ)',
  'A FETCH 2 (BODY.PEEK[HEADER.FIELDS])',
  'A FETCH 2 (FLAGS) (CHANGEDSINCE)',
  'A FETCH 2 (FLAGS) (CHANGEDSINCE abc)',
  'A FETCH 2 (FLAGS) (OTHER 1)',
  'A FETCH 2 (FLAGS NOSUCHITEM)',
  'A FETCH 2 (UID BODY[NOTASECTION])',
  'A FETCH 2 (FLAGS "quoted")',
  'A FETCH 2 (FLAGS (LIST))',
  'A FETCH 2 UID<0.5>',
  'A FETCH 0:x FLAGS',
];

test('FETCH and UID FETCH: what reaches the onFetch handler, and every refusal, as imap-core\'s own handler gives them', () => {
  let compared = 0;
  for (const line of LINES) {
    for (const mailbox of [{}, { readOnly: true }, { condstore: true }]) {
      let expected: Outcome;
      try {
        expected = run(original, line, mailbox);
      } catch {
        // a line imap-core's own parser refuses never reaches a handler
        assert.throws(() => parser(line), line);
        continue;
      }
      assert.deepEqual(run(replacement, line, mailbox), expected, `${line} ${JSON.stringify(mailbox)}`);
      compared++;
    }
  }
  assert.ok(compared >= (LINES.length - 2) * 3, `${compared} compared`);
});
