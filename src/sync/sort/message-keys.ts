import { titlecase } from './casemap.js';
import { baseSubject } from './base-subject.js';
import { decodeEncodedWords } from './encoded-words.js';
import type { Envelope, EnvelopeAddress } from './envelope.js';
import { internalDateSeconds, sentDate } from './sent-date.js';

/**
 * What SORT and THREAD need of one message, derived once from its ENVELOPE, its References
 * header and its metadata, and kept in the cache (x!<fid>!k!<uid>).
 */
export interface MessageKeys {
  /** INTERNALDATE, seconds. */
  arrival: number;
  /** The Date header, seconds; INTERNALDATE where it is missing or does not parse (RFC 5256). */
  date: number;
  size: number;
  /** Base subject, title-cased (RFC 5256 2.1). */
  subject: string;
  /** The base subject was found under Re:, Fwd:, (fwd) or [fwd: ...] (THREAD's subject grouping). */
  replyOrForward: boolean;
  from: string;
  to: string;
  cc: string;
  displayFrom: string;
  displayTo: string;
  /** The message's Message-ID, '' when it has none. */
  messageId: string;
  /** Its parents, oldest first: References, or the first In-Reply-To id where References has none. */
  parents: string[];
}

/** The sort keys naming a string column. */
export const STRING_KEYS = ['subject', 'from', 'to', 'cc', 'displayFrom', 'displayTo'] as const;
export type StringKey = (typeof STRING_KEYS)[number];

/** The message ids `<...>` of a header value, angle brackets kept, whitespace inside dropped. */
export function messageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  return [...value.matchAll(/<([^<>]*)>/g)].map((match) => (match[1] as string).replace(/\s+/g, '')).filter((id) => id.includes('@')).map((id) => `<${id}>`);
}

/** RFC 5256: the local part of the first address (addr-mailbox). */
function mailboxKey(addresses: readonly EnvelopeAddress[]): string {
  return titlecase(addresses[0]?.mailbox ?? '');
}

/** RFC 5957: the display name of the first address, decoded; its address where it has none. */
function displayKey(addresses: readonly EnvelopeAddress[]): string {
  const first = addresses[0];
  if (!first) return '';
  const name = first.name ? decodeEncodedWords(first.name) : '';
  if (name) return titlecase(name);
  const address = first.mailbox && first.host ? `${first.mailbox}@${first.host}` : (first.mailbox ?? '');
  return titlecase(address);
}

export function messageKeys(envelope: Envelope, references: string | undefined, meta: { size: number; internalDate: string }): MessageKeys {
  const arrival = internalDateSeconds(meta.internalDate);
  const subject = baseSubject(envelope.subject ?? '');
  const refs = messageIds(references);
  return {
    arrival,
    date: sentDate(envelope.date ?? undefined) || arrival,
    size: meta.size,
    subject: subject.subject,
    replyOrForward: subject.replyOrForward,
    from: mailboxKey(envelope.from),
    to: mailboxKey(envelope.to),
    cc: mailboxKey(envelope.cc),
    displayFrom: displayKey(envelope.from),
    displayTo: displayKey(envelope.to),
    messageId: messageIds(envelope.messageId)[0] ?? '',
    parents: refs.length > 0 ? refs : messageIds(envelope.inReplyTo).slice(0, 1),
  };
}

const FIELDS = ['arrival', 'date', 'size', 'subject', 'replyOrForward', 'from', 'to', 'cc', 'displayFrom', 'displayTo', 'messageId', 'parents'] as const;

/** As stored: a JSON array in FIELDS order (no field names repeated per message). */
export function encodeMessageKeys(keys: MessageKeys): string {
  return JSON.stringify(FIELDS.map((field) => keys[field]));
}

export function decodeMessageKeys(value: string): MessageKeys {
  const list = JSON.parse(value) as unknown[];
  return Object.fromEntries(FIELDS.map((field, i) => [field, list[i]])) as unknown as MessageKeys;
}
