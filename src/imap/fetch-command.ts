/**
 * FETCH and UID FETCH, replacing the handler of imap-core's command module (core-patches.ts):
 * the same checks and the same options for the onFetch handler, without what imap-core's own
 * handler spends on every command whether anything reads it (a JSON debug line, each item and
 * the whole command compiled back to text for a log entry, a table of macros built anew): a
 * client that fetches message by message pays that per message.
 */
import { getMessageRange } from './message-range.js';
import type { Callback, CommandArgument, FetchOptions, FetchQueryItem, ImapSession, ImapToken, SelectedState } from './imap-core.js';

/** RFC 3501 6.4.5: the macros, which stand alone in place of a list of items. */
const MACROS: Readonly<Record<string, readonly string[]>> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** Items whose answer is message content: the command is not metadata only. */
const CONTENT_ITEMS = new Set(['BODY', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const RFC822_LITERALS = new Set(['RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
/** A section's MIME part path (`1.2.3`) and what of it is asked (`TEXT`, `HEADER.FIELDS`, nothing: the content). */
const SECTION_PATH = /^(\d+\.)*(\d+$)?/;
const HEADER_FIELDS = /^HEADER.FIELDS(\.NOT)?$/i;

/** One entry of imap-tools' fetchSchema: true (no section), or what a section may be; a list: any of them. */
type SchemaEntry = true | { type: RegExp | string | boolean; headers?: RegExp } | SchemaEntry[];

export interface FetchTools {
  fetchSchema: Record<string, SchemaEntry>;
  validateSequence(range: string): boolean;
  /** imap-core's compiler: an item back to text, for the answer that refuses it. */
  compile(response: { attributes: unknown }): string;
}

interface FetchConnection {
  session: ImapSession;
  selected: SelectedState;
  condstoreEnabled: boolean;
  _server: { onFetch(mailbox: string, options: FetchOptions, session: ImapSession, callback: (err: (Error & { responseMessage?: string }) | null, success?: boolean | string) => void): void };
}

export function makeFetchHandler(tools: FetchTools) {
  return function (this: FetchConnection, command: { command: string; attributes: CommandArgument[] }, callback: Callback): void {
    const isUid = command.command.toUpperCase() === 'UID FETCH';
    const [rangeArg, dataArg, extensionsArg] = command.attributes;
    const range = (rangeArg && !Array.isArray(rangeArg) && rangeArg.value) || '';
    if (!tools.validateSequence(range)) return callback(new Error(`Invalid sequence set for ${command.command}`));
    const selected = this.selected;

    /** CHANGEDSINCE given (0 too, which imap-core takes: its answers carry MODSEQ all the same). */
    let changedSince: number | undefined;
    const extensions = Array.isArray(extensionsArg) ? extensionsArg.map((token) => token?.value) : extensionsArg ? [extensionsArg.value] : [];
    if (extensions.length) {
      if (extensions.length !== 2 || String(extensions[0] ?? '').toUpperCase() !== 'CHANGEDSINCE' || Number.isNaN(Number(extensions[1]))) {
        return callback(new Error(`Invalid modifier for ${command.command}`));
      }
      changedSince = Number(extensions[1]);
      enableCondstore(this);
    }

    const macro = dataArg && !Array.isArray(dataArg) && dataArg.type === 'ATOM' ? MACROS[dataArg.value.toUpperCase()] : undefined;
    const params: ImapToken[] = [];
    for (const param of macro ?? (Array.isArray(dataArg) ? dataArg : dataArg ? [dataArg] : [])) {
      if (typeof param === 'string') params.push({ type: 'ATOM', value: param });
      else if (param?.type === 'ATOM') params.push(param);
      else return callback(new Error(`Invalid message data item name for ${command.command}`));
    }

    let flags = false;
    let uid = false;
    let modseq = false;
    let markAsSeen = false;
    let metadataOnly = true;
    for (const param of params) {
      const name = param.value.toUpperCase();
      if (name === 'FLAGS') flags = true;
      else if (name === 'UID') uid = true;
      else if (name === 'MODSEQ') {
        modseq = true;
        enableCondstore(this);
      }
      if (!selected.readOnly && ((name === 'BODY' && param.section) || name === 'RFC822')) markAsSeen = true;
      if (name === 'BODY.PEEK' && param.section) param.value = 'BODY';
      if (CONTENT_ITEMS.has(param.value.toUpperCase())) metadataOnly = false;
    }
    // a FETCH that sets \Seen shows the flags; UID FETCH the UID; CHANGEDSINCE the MODSEQ
    if (markAsSeen && !flags) params.push({ type: 'ATOM', value: 'FLAGS' });
    if (isUid && !uid) params.push({ type: 'ATOM', value: 'UID' });
    if (changedSince !== undefined && !modseq) params.push({ type: 'ATOM', value: 'MODSEQ' });

    const query: FetchQueryItem[] = [];
    for (const param of params) {
      const item = queryItem(param);
      if (!Object.hasOwn(tools.fetchSchema, item.item) || !fitsSchema(tools.fetchSchema[item.item] as SchemaEntry, item)) {
        return callback(null, { response: 'BAD', message: `Invalid message data item ${tools.compile({ attributes: param })} for ${command.command}` });
      }
      query.push(item);
    }

    const options: FetchOptions = { messages: getMessageRange(selected.uidList, range, isUid), query, markAsSeen, changedSince: changedSince ?? 0, isUid, metadataOnly };
    this._server.onFetch(selected.mailbox, options, this.session, (err, success) => {
      if (err) return callback(null, { response: 'NO', code: 'TEMPFAIL', message: err.responseMessage });
      callback(null, { response: success === true ? 'OK' : 'NO', code: typeof success === 'string' ? success.toUpperCase() : false });
    });
  };
}

/** CHANGEDSINCE and MODSEQ enable CONDSTORE (RFC 7162 3.1), for the session too if the mailbox did not have it yet. */
function enableCondstore(connection: FetchConnection): void {
  if (!connection.selected.condstoreEnabled) connection.condstoreEnabled = connection.selected.condstoreEnabled = true;
}

/** A data item as the onFetch handler takes it: its name, and for a section its part path, what of the part, the header fields, a partial range. */
function queryItem(param: ImapToken): FetchQueryItem {
  const item: FetchQueryItem = { item: param.value.toLowerCase() };
  if (param.section) {
    if (!param.section.length) {
      item.path = '';
      item.type = 'content';
    } else {
      const first = param.section[0];
      const section = String((first && !Array.isArray(first) && first.value) || '').toLowerCase();
      const path = SECTION_PATH.exec(section)?.[0] ?? '';
      if (path.length) {
        item.path = path.replace(/\.$/, '');
        item.type = section.slice(item.path.length + 1) || 'content';
      } else {
        item.path = Number.isNaN(Number(section)) ? '' : section;
        item.type = section;
      }
      const fields = param.section[1];
      if (HEADER_FIELDS.test(item.type) && Array.isArray(fields)) item.headers = fields.map((field) => String(field.value || '').toLowerCase());
    }
    item.isLiteral = true;
  }
  if (RFC822_LITERALS.has(param.value.toUpperCase())) item.isLiteral = true;
  if (param.partial) item.partial = { startFrom: Number(param.partial[0]) || 0, maxLength: Number(param.partial[1]) || 0 };
  return item;
}

/** imap-core's check of an item against its fetchSchema entry. */
function fitsSchema(schema: SchemaEntry, item: FetchQueryItem): boolean {
  if (Array.isArray(schema)) return schema.some((entry) => fitsSchema(entry, item));
  const plain = item.type === undefined && !item.partial;
  if (schema === true) return plain;
  const { type, headers } = schema;
  if (type instanceof RegExp) {
    if (!type.test(item.type as string)) return false;
  } else if (typeof type === 'string') {
    if (type !== item.type) return false;
  } else if (!plain || type !== true) return false;
  return !(headers?.test(item.type as string) && !Array.isArray(item.headers));
}
