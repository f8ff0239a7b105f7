import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ProxyError } from '../../model/errors.js';
import type { Uid } from '../../model/types.js';
import { planFetch } from '../fetch/fetch-plan.js';
import { openLiteral } from '../fetch/literal-content.js';
import type { FetchQueryItem, ImapSession } from '../imap-core.js';
import { parseMessageUrl } from '../imap-url.js';
import { accountOf } from '../session-state.js';

/**
 * The bytes a CATENATE URL names (RFC 4469 5): a message, or a section of one, of a folder of
 * this account, from the cache or upstream as a FETCH would have them. A URL that names nothing
 * is answered NO [BADURL].
 */
export async function openCatenateUrl(session: ImapSession, url: string): Promise<{ size: number; body: Readable }> {
  const refused = (why: string) => new ProxyError('CLIENT_REFUSED', `CATENATE URL: ${why}`, { clientCode: `BADURL "${url.replace(/["\\]/g, '')}"`, clientText: why });
  const parsed = parseMessageUrl(url);
  if (!parsed) throw refused('Not an IMAP URL of a message on this server');
  const account = accountOf(session);
  const folder = account.folder(/^INBOX$/i.test(parsed.mailbox) ? 'INBOX' : parsed.mailbox);
  const generation = await folder.ready().catch(() => undefined);
  if (!generation) throw refused('No such mailbox');
  if (parsed.uidValidity !== undefined && parsed.uidValidity !== generation.record.uidValidity) throw refused('UIDVALIDITY does not match');
  const [meta] = await folder.metas([parsed.uid as Uid]);
  if (!meta) throw refused('No such message');
  const plan = planFetch([sectionQuery(parsed.section)]);
  const item = plan.items[0];
  if (item?.kind !== 'literal') throw refused('Not a section of a message');
  const endRead = account.store.beginRead();
  try {
    const sections = (await folder.fetchData([meta], plan)).sections.get(meta.uid);
    if (!sections) throw refused('No such message');
    const content = (await openLiteral(account.store, sections, item.source, parsed.partial)) ?? Buffer.alloc(0);
    const body = Buffer.isBuffer(content) ? Readable.from([content]) : content.stream;
    // the chunks stay readable until the bytes were taken
    finished(body).then(endRead, endRead);
    return { size: content.length, body };
  } catch (err) {
    endRead();
    throw err;
  }
}

/** A section as imap-core hands it to FETCH: "1.2.MIME" is path 1.2, type mime. */
function sectionQuery(section: string): FetchQueryItem {
  const fields = /^(.*?)(HEADER\.FIELDS(?:\.NOT)?) \((.*)\)$/i.exec(section);
  const name = (fields ? `${fields[1]}${fields[2]}` : section).toLowerCase();
  const path = /^(?:\d+\.)*\d+/.exec(name)?.[0] ?? '';
  const type = (path ? name.slice(path.length + 1) : name) || 'content';
  const item: FetchQueryItem = { item: 'body', path, type, isLiteral: true };
  if (fields) item.headers = (fields[3] ?? '').split(' ').filter(Boolean).map((h) => h.toLowerCase());
  return item;
}
