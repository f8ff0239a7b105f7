/**
 * Dates as sort keys: seconds since the epoch, in UTC. A Date header that does not parse is 0,
 * as in Dovecot (message_date_parse), and the sort then uses INTERNALDATE instead.
 */
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** Zone names of RFC 2822 4.3 (obs-zone); military letters and unknown names count as +0000. */
const ZONES: Record<string, number> = { UT: 0, GMT: 0, EST: -5, EDT: -4, CST: -6, CDT: -5, MST: -7, MDT: -6, PST: -8, PDT: -7 };

const DATE = /^\s*(?:[A-Za-z]+\s*,\s*)?(\d{1,2})\s*[-\s]\s*([A-Za-z]{3})[A-Za-z]*\s*[-\s]\s*(\d{2,4})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*([+-]\d{4}|[A-Za-z]+)?/;

function parse(text: string): number {
  const match = DATE.exec(text);
  if (!match) return 0;
  const month = MONTHS.indexOf((match[2] as string).toUpperCase());
  if (month < 0) return 0;
  let year = Number(match[3]);
  if ((match[3] as string).length <= 2) year += year < 70 ? 2000 : 1900;
  const [day, hour, minute, second] = [Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6] ?? 0)];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return 0;
  const zone = match[7] ?? '';
  let offsetMinutes = 0;
  if (/^[+-]\d{4}$/.test(zone)) {
    const sign = zone[0] === '-' ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  } else offsetMinutes = (ZONES[zone.toUpperCase()] ?? 0) * 60;
  return Date.UTC(year, month, day, hour, minute, second) / 1000 - offsetMinutes * 60;
}

/** A Date header value; 0 when it does not parse. */
export function sentDate(header: string | undefined): number {
  return header ? parse(header) : 0;
}

/** An IMAP INTERNALDATE, "17-Jul-1996 02:44:25 -0700". */
export function internalDateSeconds(internalDate: string): number {
  return parse(internalDate);
}
