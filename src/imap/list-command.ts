/**
 * LIST, replacing imap-core's command module (core-patches.ts), which knows one selection and one
 * return option (SPECIAL-USE) and nothing of RFC 5258 / 5819: selection options SUBSCRIBED,
 * REMOTE, RECURSIVEMATCH and SPECIAL-USE, several patterns, RETURN (SUBSCRIBED CHILDREN
 * SPECIAL-USE STATUS (...)). The entries come from list-listing.ts.
 */
import type { Callback, CommandArgument, ImapSession } from './imap-core.js';
import { listEntries, parseList, type ListArgument, type ListedFolder } from './list-listing.js';
import { stateOf } from './session-state.js';

type HandlerCallback<T> = (err: Error | null, result?: T) => void;

interface ListConnection {
  session: ImapSession;
  acceptUTF8Enabled: boolean;
  send(line: string): void;
  _server: {
    onList(query: string, session: ImapSession, callback: HandlerCallback<ListedFolder[]>): void;
    onLsub(query: string, session: ImapSession, callback: HandlerCallback<{ path: string }[]>): void;
    onStatus(path: string, session: ImapSession, callback: HandlerCallback<Record<string, unknown> | string>): void;
  };
}

export interface ListTools {
  normalizeMailbox(path: string, utf7?: boolean): string;
  utf7encode(path: string): string;
  filterFolders(folders: { path: string }[], query: string): { path: string }[];
  compile(response: unknown): string;
}

const ask = <T>(run: (callback: HandlerCallback<T>) => void): Promise<T | undefined> =>
  new Promise((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result))));

export function makeListHandler(tools: ListTools) {
  return function (this: ListConnection, command: { attributes?: CommandArgument[] }, callback: Callback): void {
    const request = parseList((command.attributes ?? []) as ListArgument[]);
    if (typeof request === 'string') return callback(null, { response: 'BAD', message: request });
    const utf8 = this.acceptUTF8Enabled;
    const name = (path: string) => (utf8 ? Buffer.from(path) : tools.utf7encode(path));
    // `LIST "" ""`: the hierarchy delimiter (RFC 3501 6.3.8)
    if (!request.extended && request.patterns[0] === '') {
      this.send(tools.compile({ tag: '*', command: 'LIST', attributes: [[{ type: 'atom', value: '\\Noselect' }], '/', ''] }));
      return callback(null, { response: 'OK', message: 'LIST completed' });
    }
    const queries = request.patterns.filter((pattern) => pattern !== '').map((pattern) => tools.normalizeMailbox(request.reference + pattern, !utf8));
    const matches = (paths: string[]) => {
      const found = new Set<string>();
      for (const query of queries) for (const folder of tools.filterFolders(paths.map((path) => ({ path })), query)) found.add(folder.path);
      return found;
    };
    const session = this.session;
    const answer = async () => {
      const folders = (await ask<ListedFolder[]>((cb) => this._server.onList('', session, cb))) ?? [];
      const wantsSubscriptions = request.subscribedOnly || request.returnSubscribed;
      const subscriptions = wantsSubscriptions ? ((await ask<{ path: string }[]>((cb) => this._server.onLsub('', session, cb))) ?? []).map((f) => f.path) : [];
      for (const entry of listEntries(request, folders, subscriptions, matches)) {
        const attributes: unknown[] = [entry.flags.map((flag) => ({ type: 'atom', value: flag })), '/', name(entry.path)];
        if (entry.childInfo) attributes.push([{ type: 'atom', value: 'CHILDINFO' }, [{ type: 'string', value: 'SUBSCRIBED' }]]);
        this.send(tools.compile({ tag: '*', command: 'LIST', attributes }));
        if (request.status.length && entry.selectable) await sendStatus.call(this, entry.path, name(entry.path), request.status, tools);
      }
    };
    answer().then(
      () => callback(null, { response: 'OK', message: 'LIST completed' }),
      (err: unknown) => callback(err as Error),
    );
  };
}

/** `* STATUS name (...)` after a folder's LIST line (RFC 5819); a folder upstream cannot tell about gets none. */
async function sendStatus(this: ListConnection, path: string, name: string | Buffer, items: readonly string[], tools: ListTools): Promise<void> {
  stateOf(this.session).statusItems = [...items];
  const status = await ask<Record<string, unknown> | string>((cb) => this._server.onStatus(path, this.session, cb)).catch(() => undefined);
  // its failure is not LIST's: the answer it chose is dropped
  stateOf(this.session).answer = undefined;
  if (!status || typeof status === 'string') return;
  const values = new Map(Object.entries(status).map(([key, value]) => [key.toUpperCase(), String(value ?? 0)]));
  const list = items.flatMap((item) => [{ type: 'atom', value: item }, { type: 'atom', value: values.get(item) ?? '0' }]);
  this.send(tools.compile({ tag: '*', command: 'STATUS', attributes: [name, list] }));
}
