import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandArgument, ImapToken } from '../../src/imap/imap-core.js';
import { parseSelectOptions, requestedUids } from '../../src/imap/qresync.js';

const atom = (value: string): ImapToken => ({ type: 'ATOM', value });
const list = (...items: unknown[]) => items as unknown as CommandArgument;

describe("SELECT's options", () => {
  test('CONDSTORE, and QRESYNC with or without known UIDs and the known set', () => {
    assert.deepEqual(parseSelectOptions(list(atom('CONDSTORE')), false), { condstore: true });
    assert.deepEqual(parseSelectOptions(list(atom('QRESYNC'), list(atom('7'), atom('100'))), true), {
      condstore: false,
      qresync: { uidValidity: 7, modseq: 100, knownUids: [[1, 4294967295]] },
    });
    assert.deepEqual(parseSelectOptions(list(atom('qresync'), list(atom('7'), atom('100'), atom('5:9,1:3'), list(atom('1:2'), atom('1:2')))), true), {
      condstore: false,
      qresync: { uidValidity: 7, modseq: 100, knownUids: [[1, 3], [5, 9]] },
    });
    assert.equal(typeof parseSelectOptions(list(atom('QRESYNC'), list(atom('7'), atom('100'), list(atom('1:2'), atom('1:2')))), true), 'object');
  });

  test('refusals in Dovecot\'s words', () => {
    assert.equal(parseSelectOptions(list(atom('QRESYNC'), list(atom('7'), atom('1'))), false), 'QRESYNC not enabled');
    assert.equal(parseSelectOptions(list(atom('QRESYNC')), true), 'QRESYNC parameters missing');
    assert.equal(parseSelectOptions(list(atom('QRESYNC'), list(atom('x'), atom('1'))), true), 'Invalid QRESYNC parameters');
    assert.equal(parseSelectOptions(list(atom('QRESYNC'), list(atom('7'), atom('1'), atom('3:*'))), true), 'Invalid QRESYNC known-uids');
    assert.equal(parseSelectOptions(list(atom('QRESYNC'), list(atom('7'), atom('1'), atom('3'), list(atom('1')))), true), 'Invalid QRESYNC known set');
    assert.equal(parseSelectOptions(list(atom('BOGUS')), true), 'Unknown SELECT option');
  });

  test("a UID FETCH's set with * names every UID up", () => {
    assert.deepEqual(requestedUids('5:*,1'), [[1, 1], [5, 4294967295]]);
  });
});
