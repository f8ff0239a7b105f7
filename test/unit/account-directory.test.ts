import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUpstreamUrl } from '../../src/config/schema.js';
import { routeOf } from '../../src/sync/account-directory.js';

const endpoint = parseUpstreamUrl('imaps://mail.example.com');
const other = parseUpstreamUrl('imap://other.example');

test('a single upstream takes any login name, as the user name there', () => {
  assert.deepEqual(routeOf({ kind: 'passthrough', endpoint, connections: 4 }, 'Anyone@example.com'), { name: 'Anyone@example.com', endpoint, upstreamUser: 'Anyone@example.com', connections: 4 });
});

test('configured accounts take only their own names, each to its server and user there', () => {
  const bob = { name: 'bob', endpoint: other, upstreamUser: 'robert', connections: 2 };
  const directory = { kind: 'configured', accounts: [{ name: 'alice', endpoint, upstreamUser: 'alice', connections: 4 }, bob] } as const;
  assert.deepEqual(routeOf(directory, 'bob'), bob);
  assert.equal(routeOf(directory, 'robert'), undefined);
  assert.equal(routeOf(directory, 'Bob'), undefined, 'names are matched exactly');
  assert.equal(routeOf(directory, ''), undefined);
});
