// A full pull as a test client does it: BODY[] of every message of every selectable folder.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fetchItems, RawImapClient } from './raw-client.js';

/** sha256 of BODY[] of every message of every selectable folder, by "folder UID". */
export async function pullDigests(port: number, user = 'test', pass = 'pass'): Promise<Map<string, string>> {
  const client = await RawImapClient.connect(port);
  await client.login(user, pass).catch((err: unknown) => {
    client.close();
    throw err;
  });
  return digestsOf(client);
}

/** pullDigests by a client that is logged in already; closes it. */
export async function digestsOf(client: RawImapClient): Promise<Map<string, string>> {
  try {
    const digests = new Map<string, string>();
    const list = await client.command('LIST "" "*"');
    for (const line of list.untagged) {
      const text = line.toString('utf8');
      if (/\\Noselect/i.test(text)) continue;
      const folder = /"\/" (.*)$/.exec(text)?.[1] as string;
      assert.match((await client.command(`EXAMINE ${folder}`)).tagged, /OK/);
      const fetched = await client.command('UID FETCH 1:* (UID BODY.PEEK[])');
      assert.match(fetched.tagged, /OK/);
      for (const response of fetched.untagged) {
        if (!/^\* \d+ FETCH/.test(response.toString('latin1', 0, 20))) continue;
        const { items } = fetchItems(response);
        const literal = items.get('BODY[]') as Buffer;
        const body = literal.subarray(literal.indexOf('\r\n') + 2);
        // Dovecot quotes a folder name only when it must, imap-core always does
        digests.set(`${folder.replace(/^"(.*)"$/, '$1')} ${items.get('UID')}`, createHash('sha256').update(body).digest('hex'));
      }
    }
    return digests;
  } finally {
    client.close();
  }
}
