/**
 * LIST with the extensions of RFC 5258 (LIST-EXTENDED), RFC 5819 (LIST-STATUS) and RFC 6154
 * (SPECIAL-USE): the command's arguments, and the entries it answers from the folder list and
 * the subscriptions. Answers take Dovecot's forms: a plain LIST gives each folder's
 * \HasChildren or \HasNoChildren; an extended one gives them only when RETURN (CHILDREN) asks.
 */

/** What one LIST command asks for. */
export interface ListRequest {
  /** Selection options (RFC 5258 3): SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE. */
  subscribedOnly: boolean;
  recursiveMatch: boolean;
  specialUseOnly: boolean;
  reference: string;
  patterns: string[];
  /** Return options (RFC 5258 3.2, RFC 5819, RFC 6154). */
  returnSubscribed: boolean;
  returnChildren: boolean;
  returnSpecialUse: boolean;
  /** STATUS items for each selectable folder listed (LIST-STATUS), upper case. */
  status: string[];
  /** Any extended syntax: selection options, several patterns, RETURN. */
  extended: boolean;
}

/** A token of the command as imap-core parses it. */
export interface ListToken {
  type?: string;
  value?: unknown;
}
export type ListArgument = ListToken | ListArgument[] | null | undefined;

import { MAX_LIST_PATTERN } from '../model/limits.js';

const STATUS_ITEMS = new Set(['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ']);

// NIL, which imap-core's parser makes null, is a name there (an astring: RFC 3501 9)
const text = (arg: ListArgument): string | undefined =>
  arg === null ? 'NIL' : arg && !Array.isArray(arg) && (typeof arg.value === 'string' || Buffer.isBuffer(arg.value)) ? Buffer.from(arg.value as string, 'binary').toString() : undefined;
const atoms = (list: ListArgument[]): (string | undefined)[] => list.map((arg) => (arg && !Array.isArray(arg) && arg.type?.toUpperCase() === 'ATOM' ? String(arg.value).toUpperCase() : undefined));

/** The request, or the reason for a BAD. */
export function parseList(args: readonly ListArgument[]): ListRequest | string {
  const request: ListRequest = {
    subscribedOnly: false,
    recursiveMatch: false,
    specialUseOnly: false,
    reference: '',
    patterns: [],
    returnSubscribed: false,
    returnChildren: false,
    returnSpecialUse: false,
    status: [],
    extended: false,
  };
  let at = 0;
  const first = args[0];
  if (Array.isArray(first)) {
    request.extended = true;
    for (const option of atoms(first)) {
      if (option === 'SUBSCRIBED') request.subscribedOnly = true;
      else if (option === 'RECURSIVEMATCH') request.recursiveMatch = true;
      else if (option === 'SPECIAL-USE') request.specialUseOnly = true;
      else if (option !== 'REMOTE') return `Unknown LIST selection option ${option ?? ''}`.trim();
    }
    if (request.recursiveMatch && !request.subscribedOnly && !request.specialUseOnly) return 'RECURSIVEMATCH must not be the only selection option';
    at++;
  }
  const reference = text(args[at]);
  if (reference === undefined) return 'LIST needs a reference name';
  request.reference = reference;
  const mailbox = args[at + 1];
  if (Array.isArray(mailbox)) {
    request.extended = true;
    for (const pattern of mailbox) {
      const value = text(pattern);
      if (value === undefined) return 'Invalid LIST pattern';
      request.patterns.push(value);
    }
  } else {
    const value = text(mailbox);
    if (value === undefined) return 'LIST needs a mailbox name';
    request.patterns.push(value);
  }
  // imap-core turns a pattern into a regular expression, and V8 refuses one of some 30,000 characters
  if (request.reference.length + request.patterns.reduce((sum, p) => sum + p.length, 0) > MAX_LIST_PATTERN) return 'Mailbox name pattern too long';
  at += 2;
  if (at < args.length) {
    const [keyword, options] = [args[at], args[at + 1]];
    if (atoms([keyword])[0] !== 'RETURN' || !Array.isArray(options) || at + 2 !== args.length) return 'Invalid LIST arguments';
    request.extended = true;
    for (let i = 0; i < options.length; i++) {
      const option = atoms([options[i]])[0];
      if (option === 'SUBSCRIBED') request.returnSubscribed = true;
      else if (option === 'CHILDREN') request.returnChildren = true;
      else if (option === 'SPECIAL-USE') request.returnSpecialUse = true;
      else if (option === 'STATUS' && Array.isArray(options[i + 1])) {
        const items = atoms(options[++i] as ListArgument[]);
        if (items.length === 0 || items.some((item) => !item || !STATUS_ITEMS.has(item))) return 'Invalid STATUS items in LIST RETURN';
        request.status = [...new Set(items as string[])];
      } else return `Unknown LIST return option ${option ?? ''}`.trim();
    }
  }
  return request;
}

/** A folder as the proxy knows it. */
export interface ListedFolder {
  path: string;
  specialUse?: string;
}

/** One LIST answer line: its attributes, name and extended data (CHILDINFO). */
export interface ListEntry {
  path: string;
  flags: string[];
  childInfo: boolean;
  /** A folder that can be selected: STATUS is given for it (LIST-STATUS). */
  selectable: boolean;
}

/** Every ancestor of a path: `a/b/c` -> `a`, `a/b`. */
function ancestors(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * The entries a LIST answers, in the order of `folders`. `matches` says which of the names it is
 * given any of the request's patterns match.
 */
export function listEntries(request: ListRequest, folders: readonly ListedFolder[], subscriptions: readonly string[], matches: (paths: string[]) => Set<string>): ListEntry[] {
  const existing = new Map(folders.map((folder) => [folder.path, folder]));
  const subscribed = new Set(subscriptions);
  // parents that are not folders themselves (\Noselect), as a hierarchy implies them
  const implied = new Set<string>();
  for (const folder of folders) for (const parent of ancestors(folder.path)) if (!existing.has(parent)) implied.add(parent);
  const hasChildren = new Set<string>();
  for (const path of [...existing.keys(), ...implied]) for (const parent of ancestors(path)) hasChildren.add(parent);

  // the names the selection options keep
  const candidates: string[] = request.subscribedOnly
    ? [...new Set([...subscriptions, ...(request.recursiveMatch ? [...existing.keys(), ...implied] : [])])]
    : [...existing.keys(), ...implied];
  const selected = (path: string) =>
    (!request.subscribedOnly || subscribed.has(path)) && (!request.specialUseOnly || !!existing.get(path)?.specialUse);
  const matched = matches(candidates);
  // RECURSIVEMATCH: a name whose descendant meets the selection but matches no pattern itself
  const childInfo = new Set<string>();
  if (request.recursiveMatch) {
    for (const path of candidates) {
      if (!selected(path) || matched.has(path)) continue;
      for (const parent of ancestors(path)) if (matched.has(parent)) childInfo.add(parent);
    }
  }
  const entries: ListEntry[] = [];
  for (const path of candidates) {
    if (!matched.has(path)) continue;
    const isSelected = selected(path);
    if (!isSelected && !childInfo.has(path)) continue;
    const folder = existing.get(path);
    const flags: string[] = [];
    if (isSelected && request.subscribedOnly) flags.push('\\Subscribed');
    else if (request.returnSubscribed && subscribed.has(path)) flags.push('\\Subscribed');
    // a parent that is no folder: \Noselect, or in extended answers \NonExistent (which implies it), as Dovecot says
    if (!folder) flags.push(implied.has(path) && !request.extended ? '\\Noselect' : '\\NonExistent');
    if (!request.extended || request.returnChildren) {
      flags.push(hasChildren.has(path) ? '\\HasChildren' : '\\HasNoChildren');
    }
    if (folder?.specialUse && (!request.extended || request.returnSpecialUse || request.specialUseOnly)) flags.push(folder.specialUse);
    entries.push({ path, flags, childInfo: childInfo.has(path), selectable: !!folder });
  }
  return entries;
}
