/**
 * The IMAP URLs of CATENATE (RFC 4469 with RFC 5092): a message, or a section of one, on this
 * server, e.g. `/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=0.1024`, or the same
 * after `imap://user@host`.
 */
export interface MessageUrl {
  mailbox: string;
  uidValidity?: number;
  uid: number;
  /** "" for the whole message; else as in BODY[section], upper case. */
  section: string;
  partial?: { start: number; length: number };
}

const URL_FORM =
  /^(?:imap:\/\/[^/]*)?\/([^;/]+(?:\/[^;/]+)*)(?:;UIDVALIDITY=(\d+))?\/;UID=(\d+)(?:\/;SECTION=([^/;]*))?(?:\/;PARTIAL=(\d+)(?:\.(\d+))?)?$/i;

/** The URL's parts, or undefined for one that is not a message on this server. */
export function parseMessageUrl(url: string): MessageUrl | undefined {
  const match = URL_FORM.exec(url);
  if (!match) return undefined;
  const [, mailbox = '', uidValidity, uid, section, start, length] = match;
  let decoded: string;
  try {
    decoded = decodeURIComponent(mailbox);
  } catch {
    return undefined;
  }
  const parsed: MessageUrl = { mailbox: decoded, uid: Number(uid), section: decodeURIComponent(section ?? '').toUpperCase() };
  if (uidValidity !== undefined) parsed.uidValidity = Number(uidValidity);
  if (start !== undefined) parsed.partial = { start: Number(start), length: length === undefined ? Number.MAX_SAFE_INTEGER : Number(length) };
  return parsed;
}
