/**
 * The NOTIFY command (RFC 5465), parsed: `NOTIFY NONE`, or `NOTIFY SET [STATUS] (filter events) ...`.
 * What the proxy cannot deliver is refused as the RFC has it (NO [BADEVENT], NO
 * [NOTIFICATIONOVERFLOW]); malformed input gets BAD with a reason. Delivery: notify-session.ts.
 */
import { MAX_NOTIFY_MAILBOXES } from '../model/limits.js';
import { plainValue, type CommandArgument } from './imap-core.js';

/** The events the proxy reports. */
export const SUPPORTED_EVENTS = ['MessageNew', 'MessageExpunge', 'FlagChange', 'MailboxName', 'SubscriptionChange'] as const;
export type NotifyEvent = (typeof SUPPORTED_EVENTS)[number];

/** Events of RFC 5465 (and RFC 5464's metadata) that the proxy cannot report: upstream tells it nothing of them. */
const UNSUPPORTED_EVENTS = ['AnnotationChange', 'MailboxMetadataChange', 'ServerMetadataChange'];

/** Which mailboxes an event group is about (other than the selected one). */
export type MailboxFilter =
  /** INBOXES is taken as PERSONAL (as Dovecot does): the proxy cannot know where mail is delivered. */
  | { kind: 'personal' }
  | { kind: 'subscribed' }
  /** The named mailboxes and everything below them. */
  | { kind: 'subtree'; names: string[] }
  | { kind: 'mailboxes'; names: string[] };

export interface EventGroup {
  filter: MailboxFilter;
  events: ReadonlySet<NotifyEvent>;
}

export type NotifyRequest =
  | { kind: 'none' }
  | {
      kind: 'set';
      /** STATUS: one STATUS per mailbox with message events, before the tagged OK. */
      status: boolean;
      /** The SELECTED / SELECTED-DELAYED group; none when the command has none. */
      selected?: { delayed: boolean; events: ReadonlySet<NotifyEvent> };
      groups: EventGroup[];
    }
  | { kind: 'refused'; response: 'BAD' | 'NO'; code?: string; message: string };

const MESSAGE_EVENTS: readonly NotifyEvent[] = ['MessageNew', 'MessageExpunge', 'FlagChange'];

/** The group has an event that a STATUS reports. */
export const hasMessageEvents = (events: ReadonlySet<NotifyEvent>) => MESSAGE_EVENTS.some((event) => events.has(event));

class Refusal {
  constructor(
    readonly response: 'BAD' | 'NO',
    readonly message: string,
    readonly code?: string,
  ) {}
}

const bad = (message: string) => new Refusal('BAD', message);
const word = (arg: CommandArgument) => (Array.isArray(arg) ? undefined : plainValue(arg)?.toUpperCase());

/** Parses NOTIFY's arguments as imap-core's parser gives them. */
export function parseNotify(args: readonly CommandArgument[]): NotifyRequest {
  try {
    const [first, ...rest] = args;
    const verb = word(first);
    if (verb === 'NONE') {
      if (rest.length) throw bad('NOTIFY NONE takes no arguments');
      return { kind: 'none' };
    }
    if (verb !== 'SET') throw bad('NOTIFY takes SET or NONE');
    return parseSet(rest);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { kind: 'refused', response: err.response, message: err.message, ...(err.code ? { code: err.code } : {}) };
  }
}

function parseSet(args: readonly CommandArgument[]): NotifyRequest {
  const status = word(args[0]) === 'STATUS';
  const groups = status ? args.slice(1) : args;
  if (groups.length === 0) throw bad('NOTIFY SET needs at least one event group');
  const request: Extract<NotifyRequest, { kind: 'set' }> = { kind: 'set', status, groups: [] };
  const unsupported = new Set<string>();
  let names = 0;
  for (const group of groups) {
    if (!Array.isArray(group) || group.length === 0) throw bad('An event group is a list: (filter events)');
    const [filterWord, ...tail] = group as CommandArgument[];
    const filter = word(filterWord);
    if (filter === 'SELECTED' || filter === 'SELECTED-DELAYED') {
      if (request.selected) throw bad('Duplicate selected filter');
      const events = parseEvents(tail, unsupported);
      checkSelectedEvents(events);
      request.selected = { delayed: filter === 'SELECTED-DELAYED', events };
      continue;
    }
    let mailboxFilter: MailboxFilter;
    let eventArgs = tail;
    if (filter === 'INBOXES' || filter === 'PERSONAL') mailboxFilter = { kind: 'personal' };
    else if (filter === 'SUBSCRIBED') mailboxFilter = { kind: 'subscribed' };
    else if (filter === 'SUBTREE' || filter === 'MAILBOXES') {
      const list = mailboxNames(tail[0]);
      names += list.length;
      mailboxFilter = { kind: filter === 'SUBTREE' ? 'subtree' : 'mailboxes', names: list };
      eventArgs = tail.slice(1);
    } else throw bad(filter ? `Unknown mailbox filter ${filter}` : 'An event group starts with a mailbox filter');
    const events = parseEvents(eventArgs, unsupported);
    // NONE: no events for these mailboxes, as if the group were not there
    if (events.size) request.groups.push({ filter: mailboxFilter, events });
  }
  if (unsupported.size) {
    throw new Refusal('NO', `Unsupported NOTIFY events: ${[...unsupported].join(' ')}`, `BADEVENT (${SUPPORTED_EVENTS.join(' ')})`);
  }
  if (names > MAX_NOTIFY_MAILBOXES) throw new Refusal('NO', 'Too many mailbox names', 'NOTIFICATIONOVERFLOW');
  return request;
}

/** `mailbox` or `(mailbox ...)`: at least one name. */
function mailboxNames(arg: CommandArgument): string[] {
  const list = Array.isArray(arg) ? arg : arg === undefined ? [] : [arg];
  const names = list.map((name) => (Array.isArray(name) ? undefined : plainValue(name)));
  if (names.length === 0 || names.some((name) => name === undefined)) throw bad('SUBTREE and MAILBOXES need one or more mailbox names');
  return names as string[];
}

/** `NONE` or `(event ...)`; events the proxy cannot report are collected in `unsupported`. */
function parseEvents(args: readonly CommandArgument[], unsupported: Set<string>): Set<NotifyEvent> {
  const [events, ...extra] = args;
  if (extra.length) throw bad('Unexpected arguments after the events');
  if (word(events) === 'NONE') return new Set();
  if (!Array.isArray(events) || events.length === 0) throw bad('Events are NONE or a list of events');
  const result = new Set<NotifyEvent>();
  for (let i = 0; i < events.length; i++) {
    const name = word(events[i]);
    const known = SUPPORTED_EVENTS.find((event) => event.toUpperCase() === name);
    const refused = UNSUPPORTED_EVENTS.find((event) => event.toUpperCase() === name);
    if (known) result.add(known);
    else if (refused) unsupported.add(refused);
    else throw bad(name ? `Unknown event ${name}` : 'An event is an atom');
    // MessageNew's fetch attributes would need a FETCH per new message pushed outside any command
    if (known === 'MessageNew' && Array.isArray(events[i + 1])) throw bad('MessageNew with fetch attributes is not supported');
  }
  return result;
}

/** RFC 5465 5.1 (Dovecot's words): MessageNew and MessageExpunge go together, FlagChange needs them. */
function checkSelectedEvents(events: ReadonlySet<NotifyEvent>): void {
  if (events.has('MessageNew') !== events.has('MessageExpunge')) throw bad('MessageNew and MessageExpunge must be together');
  if (events.has('FlagChange') && !events.has('MessageExpunge')) throw bad('FlagChange requires MessageNew and MessageExpunge');
}
