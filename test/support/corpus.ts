// Deterministic, realistic mail corpus (same options -> byte-identical messages).
// Message i is generated from its own PRNG keyed by (seed, i), so startIndex can
// continue a corpus later. All lines are CRLF except the deliberate bare-LF message.
import type { MailMessage } from './maildir.js';
import { b64, base64Lines, base64Size, encWords, fold, multipart, qp, toBytes, type Out, type Part } from './mime.js';
import { Rng } from './prng.js';

export interface CorpusOptions {
  seed?: number; // default 42
  messages?: number; // default 2000
  folders?: string; // NAME[:WEIGHT],...; weight 0 = folder exists but stays empty
  bigFraction?: number; // default 0.02
  bigSizeMb?: number; // attachment size of big messages, default 5
  startIndex?: number; // index of the first message, to add mail to an existing corpus later
}

export interface CorpusMessage extends MailMessage {
  index: number;
  kind: Kind;
  messageId: string;
}

export const DEFAULT_FOLDERS = 'INBOX:45,Sent:15,Archive/2024:18,Archive/2023:10,Lists/dev-list:8,Entwürfe:3,Trash:0';

const KINDS = [
  ['plain', 24], ['alternative', 20], ['qp', 6], ['latin1', 3], ['8bit', 7], ['attach', 15], ['forward', 6],
  ['related', 4], ['signed', 3], ['report', 2], ['calendar', 2], ['deep', 2],
  // odd but valid
  ['preamble', 0.6], ['empty-body', 0.5], ['header-only', 0.5], ['no-content-type', 0.5], ['long-header', 0.5],
  ['one-part-multipart', 0.5], ['single-nontext', 0.5], ['rfc822-top', 0.5], ['rfc2231-continuation', 0.5],
  ['address-comments', 0.5], ['bare-lf', 0.4],
] as const;
export type Kind = (typeof KINDS)[number][0] | 'big';
/** Index i < ALL_KINDS.length gets ALL_KINDS[i], so every corpus of that size has every kind. */
export const ALL_KINDS: readonly Kind[] = KINDS.map(([k]) => k);

/** Folders of a corpus, including empty (weight 0) ones: create them before or with delivery. */
export function corpusFolders(folders = DEFAULT_FOLDERS): string[] {
  return parseFolders(folders).map(([n]) => n);
}

export function* generateCorpus(opts: CorpusOptions = {}): Generator<CorpusMessage> {
  const seed = opts.seed ?? 42;
  const n = opts.messages ?? 2000;
  const start = opts.startIndex ?? 0;
  const frac = opts.bigFraction ?? 0.02;
  const bigBytes = Math.round((opts.bigSizeMb ?? 5) * 1024 * 1024);
  const folders = parseFolders(opts.folders ?? DEFAULT_FOLDERS).filter(([, w]) => w > 0);
  if (!folders.length) throw new Error('generateCorpus: no folder with a weight > 0');
  // big messages evenly spread at a seed-dependent phase: exactly ~n*frac of them, decided per index
  const phase = new Rng(`${seed}:big-phase`).float();
  const isBig = (i: number) => i >= ALL_KINDS.length && Math.floor((i + 1) * frac + phase) > Math.floor(i * frac + phase);
  for (let i = start; i < start + n; i++) {
    const folder = new Rng(`${seed}:${i}:folder`).weighted(folders);
    yield makeMessage(seed, i, folder, isBig(i) ? bigBytes : 0);
  }
}

/** One message with a huge base64 attachment; its bytes are generated chunk by chunk on every chunks() call. */
export function bigMessage(opts: { sizeMb: number; seed?: number; folder?: string }): CorpusMessage {
  return makeMessage(opts.seed ?? 42, -1, opts.folder ?? 'INBOX', Math.round(opts.sizeMb * 1024 * 1024));
}

function parseFolders(spec: string): [string, number][] {
  const list: [string, number | undefined][] = spec.split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
    const m = /^(.*?)(?::([\d.]+))?$/.exec(item)!;
    return [m[1], m[2] === undefined ? undefined : Number(m[2])];
  });
  if (!list.some(([n]) => n.toUpperCase() === 'INBOX')) list.unshift(['INBOX', undefined]);
  const unweighted = list.filter(([, w]) => w === undefined).length;
  return list.map(([n, w]) => [n, w ?? (n.toUpperCase() === 'INBOX' ? 50 : 50 / Math.max(1, unweighted - 1))]);
}

// ---------------------------------------------------------------- vocabulary

const WORDS = ('the a of to and in that is for it as with was on be by this are have from or at not but one all we ' +
  'can your has more will about if up out their which project meeting update release server cache proxy folder ' +
  'message account invoice report schedule review draft budget quarter customer support ticket deadline attached ' +
  'document please thanks regards follow question answer team network backup migration database latency ' +
  'throughput benchmark roadmap').split(' ');
const DE_WORDS = ('Grüße über für Bürotür Straße Übergröße Änderung Öffnungszeiten schön müssen wäre Käse Mädchen ' +
  'Frühstück Prüfung Rückmeldung Entwürfe Größe äußerst Besprechung Termin Unterlagen Anhang bitte danke morgen heute').split(' ');
const FR_WORDS = 'déjà réunion été à côté garçon façon où reçu élève crème brûlée naïve'.split(' ');
const INTL_WORDS = [...DE_WORDS, ...FR_WORDS, ...WORDS];
const EMOJI = ['🙂', '🚀', '✅', '📎', '☕'];
const NAMES = ['Alice Smith', 'Bob Jones', 'Carol White', 'Dave Brown', 'Eve Black', 'Jürgen Müller', 'François Dupont',
  'Zoë Ångström', 'Søren Kierkegård', '李雷', 'Ελένη Παπαδοπούλου', 'Олег Петров', 'José Núñez', "Mallory O'Neil",
  'Grace Hopper', 'Ünal Çelik'];
const LATIN1_NAMES = ['Jürgen Müller', 'François Dupont', 'José Núñez', 'Søren Kierkegård', 'Zoë Ångström'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example', 'lists.example.org'];
const SUBJECTS = ['Quarterly budget review', 'Re: server migration plan', 'Meeting notes', 'Invoice {n}',
  'Fwd: release checklist', 'Lunch on Friday?', 'Build failed on main', 'Your ticket #{n} has been updated',
  'Photos from the trip', 'Re: Re: proxy latency numbers', 'Weekly report week {n}', 'Contract draft v{n}',
  'Welcome to the dev list'];
const NONASCII_SUBJECTS = ['Grüße aus München', 'Réunion déjà prévue à 10h', 'Änderungen am Entwurf',
  'Überweisung für März', 'Привет из Москвы', '会议记录', 'Καλημέρα', 'Straßenfest 🎉 am Samstag', 'Ça marche très bien ✅'];
const LATIN1_SUBJECTS = ['Grüße aus München', 'Réunion déjà prévue à 10h', 'Änderungen am Entwurf', 'Überweisung für März'];
const MAILERS = ['Thunderbird 115.3', 'Apple Mail (2.3731)', 'Microsoft Outlook 16.0', 'Roundcube Webmail/1.6', 'mutt/2.2.9'];
const ME = 'Test User <test@example.com>';
const DAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// ---------------------------------------------------------------- text helpers

function sentence(r: Rng, words = WORDS): string {
  const s = Array.from({ length: r.int(6, 18) }, () => r.pick(words)).join(' ');
  return s[0].toUpperCase() + s.slice(1) + r.pick(['.', '.', '.', '?', '!']);
}

function wrap(text: string, width = 72): string {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) { out.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(line);
  return out.join('\n');
}

function bodyText(r: Rng, words = WORDS, paras = r.int(1, 5)): string {
  return Array.from({ length: paras }, () => wrap(Array.from({ length: r.int(2, 6) }, () => sentence(r, words)).join(' ')))
    .join('\n\n') + '\n';
}

function htmlOf(text: string): string {
  const ps = text.trim().split('\n\n').map((p) => `<p>${p.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p>\n`).join('');
  return '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><style>p{font-family:sans-serif;color:#333}</style></head>\n' +
    `<body>\n${ps}</body></html>\n`;
}

function rfc2822Date(ts: number, tzMin: number): string {
  const d = new Date((ts + tzMin * 60) * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  const off = Math.abs(tzMin);
  return `${DAY[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MON[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${tzMin < 0 ? '-' : '+'}${p(Math.floor(off / 60))}${p(off % 60)}`;
}

function addr(r: Rng, name = r.pick(NAMES), charset: 'UTF-8' | 'ISO-8859-1' = 'UTF-8'): string {
  const local = name.toLowerCase().split(' ')[0].replace(/[^a-z]/g, '') || 'user';
  const a = `${local}.${r.int(1, 99)}@${r.pick(DOMAINS)}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: byte ranges: is the name all ASCII, all Latin-1
  if (/[^\x00-\x7f]/.test(name)) return `${encWords(name, /^[\x00-\xff]*$/.test(name) ? charset : 'UTF-8')} <${a}>`;
  return /[',]/.test(name) ? `"${name}" <${a}>` : `${name} <${a}>`;
}

const randomMsgId = (r: Rng) => `<${r.hex(20)}.${r.int(1000, 99999)}@${r.pick(DOMAINS)}>`;

// ---------------------------------------------------------------- parts

const HTML_QP = 'Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n';

function textPart(r: Rng, kind: 'plain' | 'flowed' | 'qp' | '8bit' | 'latin1'): Part {
  switch (kind) {
    case 'plain':
      return { h: 'Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n', b: [bodyText(r)] };
    case 'flowed':
      return { h: 'Content-Type: text/plain; charset=us-ascii; format=flowed\nContent-Transfer-Encoding: 7bit\n',
        b: [bodyText(r).replace(/\n/g, ' \n').replace(/ \n \n/g, '\n\n')] };
    case 'qp': {
      const t = bodyText(r, INTL_WORDS) + Array.from({ length: 3 }, () => r.pick(EMOJI)).join(' ') + '\n' +
        `A deliberately long line ${'x'.repeat(120)} with = signs and tabs\tend\n`;
      return { h: 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n', b: [qp(t)] };
    }
    case '8bit':
      return { h: 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n', b: [bodyText(r, INTL_WORDS)] };
    case 'latin1':
      return { h: 'Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n',
        b: [qp(bodyText(r, [...DE_WORDS, ...WORDS]), 'latin1')] };
  }
}

const ATTACHMENTS = [
  ['application/pdf', 'report.pdf', '%PDF-1.4\n'], ['image/png', 'chart.png', '\x89PNG\r\n\x1a\n'],
  ['application/zip', 'logs.zip', 'PK\x03\x04'],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'Entwurf.docx', 'PK\x03\x04'],
  ['text/csv', 'data.csv', null], ['application/octet-stream', 'dump.bin', ''],
] as const;

function attachment(r: Rng): Part {
  const [ctype, fname, magic] = r.pick(ATTACHMENTS);
  let body: Out;
  if (magic === null) {
    const rows = ['id,name,value'];
    for (let i = r.int(5, 400); i > 0; i--) rows.push(`${rows.length - 1},${r.pick(WORDS)},${r.int(0, 1e6)}`);
    body = [b64(Buffer.from(rows.join('\r\n') + '\r\n'))];
  } else {
    const size = r.pick([2, 8, 30, 120, 400]) * 1024 + r.int(0, 999);
    body = [...base64Lines(r, size, Buffer.from(magic, 'latin1'))];
  }
  let disp = `attachment; filename="${fname}"`;
  let cparam = `name="${fname}"`;
  if (r.chance(0.25)) { // RFC 2231 encoded non-ASCII filename
    const enc = encodeURIComponent(`Übersicht ${fname}`).replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    disp = `attachment;\n filename*=UTF-8''${enc}`;
    cparam = `name*=UTF-8''${enc}`;
  }
  return { h: `Content-Type: ${ctype};\n ${cparam}\nContent-Transfer-Encoding: base64\nContent-Disposition: ${disp}\n`, b: body };
}

/** A complete message (headers + body) to embed as message/rfc822. */
function innerMessage(r: Rng, ts: number): Out {
  const text = textPart(r, 'plain');
  const alt = multipart(r, 'multipart/alternative', [text, { h: HTML_QP, b: [qp(htmlOf(text.b[0] as string))] }]);
  const subject = r.pick([...SUBJECTS, ...NONASCII_SUBJECTS]).replace('{n}', String(r.int(1, 999)));
  return [`Date: ${rfc2822Date(ts - r.int(3600, 1e6), 60)}\nFrom: ${addr(r)}\nTo: ${addr(r)}\n` +
    fold('Subject', encWords(subject)) + `Message-ID: ${randomMsgId(r)}\nMIME-Version: 1.0\n` + alt.h + '\n', ...alt.b];
}

/** Content headers + body of a kind, plus extra top-level headers. */
function makeBody(r: Rng, kind: Kind, ts: number): Part & { extra?: string } {
  switch (kind) {
    case 'plain': return textPart(r, r.pick(['plain', 'plain', 'flowed'] as const));
    case 'qp': return textPart(r, 'qp');
    case 'latin1': return textPart(r, 'latin1');
    case '8bit': return { ...textPart(r, '8bit'), extra: 'Organization: Bürogemeinschaft Müller & Söhne\n' };
    case 'alternative': {
      const text = textPart(r, r.pick(['plain', 'plain', '8bit'] as const));
      return multipart(r, 'multipart/alternative', [text, { h: HTML_QP, b: [qp(htmlOf(text.b[0] as string))] }]);
    }
    case 'attach': {
      const parts = [textPart(r, r.pick(['plain', 'qp', '8bit'] as const))];
      for (let k = r.pick([1, 1, 1, 2, 3]); k > 0; k--) parts.push(attachment(r));
      return multipart(r, 'multipart/mixed', parts);
    }
    case 'forward': {
      const text = textPart(r, 'plain');
      const parts = [{ h: text.h, b: ['Forwarding this, see below.\n\n', ...text.b] },
        { h: 'Content-Type: message/rfc822\nContent-Disposition: inline\n', b: innerMessage(r, ts) }];
      if (r.chance(0.3)) parts.push(attachment(r));
      return multipart(r, 'multipart/mixed', parts);
    }
    case 'related': {
      const cid = `img${r.int(1000, 9999)}@example.com`;
      const html = htmlOf(bodyText(r)).replace('</body>', `<img src="cid:${cid}" alt="logo">\n</body>`);
      const alt = multipart(r, 'multipart/alternative', [textPart(r, 'plain'), { h: HTML_QP, b: [qp(html)] }]);
      const img = { h: `Content-Type: image/png; name="logo.png"\nContent-Transfer-Encoding: base64\nContent-ID: <${cid}>\n` +
        'Content-Disposition: inline; filename="logo.png"\n', b: [b64(Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), r.bytes(r.int(500, 6000))]))] };
      return multipart(r, 'multipart/related', [alt, img], { params: ' type="multipart/alternative";' });
    }
    case 'signed': {
      const inner = multipart(r, 'multipart/mixed', [textPart(r, 'qp'), attachment(r)]);
      const sig = { h: 'Content-Type: application/pgp-signature; name="signature.asc"\nContent-Description: OpenPGP digital signature\n',
        b: ['-----BEGIN PGP SIGNATURE-----\n\n', b64(r.bytes(300)), '=abcd\n-----END PGP SIGNATURE-----\n'] };
      return multipart(r, 'multipart/signed', [inner, sig], { params: ' micalg=pgp-sha256; protocol="application/pgp-signature";' });
    }
    case 'report': {
      const text = 'This is the mail system at host mx.example.org.\n\nI\'m sorry to have to inform you that your message\n' +
        'could not be delivered to one or more recipients.\n';
      const ds = `Reporting-MTA: dns; mx.example.org\nArrival-Date: ${rfc2822Date(ts - 60, 0)}\n\n` +
        'Final-Recipient: rfc822; nobody@example.net\nAction: failed\nStatus: 5.1.1\n' +
        'Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected\n';
      const hdrs = `From: ${addr(r)}\nTo: nobody@example.net\nSubject: hello\nMessage-ID: ${randomMsgId(r)}\n`;
      return { ...multipart(r, 'multipart/report', [
        { h: 'Content-Type: text/plain; charset=us-ascii\nContent-Description: Notification\n', b: [text] },
        { h: 'Content-Type: message/delivery-status\n', b: [ds] },
        { h: 'Content-Type: text/rfc822-headers\n', b: [hdrs] },
      ], { params: ' report-type=delivery-status;' }), extra: 'Auto-Submitted: auto-replied\n' };
    }
    case 'calendar': {
      const start = new Date((ts + 3 * 86400) * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
      const ics = 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Example//Cal//EN\nMETHOD:REQUEST\nBEGIN:VEVENT\n' +
        `UID:${r.int(1e8, 1e9)}@example.com\nDTSTART:${start}\nDURATION:PT1H\nSUMMARY:Besprechung Ü-Raum\n` +
        'ORGANIZER;CN=Alice:mailto:alice@example.com\nEND:VEVENT\nEND:VCALENDAR\n';
      return multipart(r, 'multipart/mixed', [textPart(r, 'plain'),
        { h: 'Content-Type: text/calendar; charset=utf-8; method=REQUEST\nContent-Transfer-Encoding: 8bit\n', b: [ics] }]);
    }
    case 'deep': { // 5-7 levels: multiparts nested in multiparts, plus a message/rfc822 at the bottom
      let level: Part = multipart(r, 'multipart/alternative', [textPart(r, 'plain'),
        { h: 'Content-Type: message/rfc822\n', b: innerMessage(r, ts) }]);
      for (let d = r.int(4, 6); d > 0; d--) {
        const kind = ['multipart/mixed', 'multipart/alternative', 'multipart/related'][d % 3];
        level = multipart(r, kind, [level, d % 2 ? textPart(r, 'qp') : attachment(r)]);
      }
      return level;
    }
    case 'preamble':
      return multipart(r, 'multipart/mixed', [textPart(r, 'plain'), attachment(r)], {
        preamble: 'This is a multi-part message in MIME format.\n', epilogue: '\nThis is the epilogue. It is ignored.\n', oddBoundary: true });
    case 'empty-body':
      return { h: 'Content-Type: text/plain; charset=us-ascii\n', b: [''] };
    case 'no-content-type':
      return { h: '', b: ['Hi,\n>From the archive:   \n\tindented with a tab\n\nend of message   \n'] };
    case 'long-header': // one unfolded header line of ~900 chars (< 998)
      return { ...textPart(r, 'plain'), extra: `X-Long-Header: ${Array.from({ length: 400 }, () => r.pick(WORDS)).join(' ')}`.slice(0, 900) + '\n' +
        'X-Comment-Test: value (with a comment) "and quotes"\n' };
    case 'one-part-multipart': {
      const m = multipart(r, 'MULTIPART/MIXED', [textPart(r, '8bit')]);
      return { h: m.h.replace('boundary=', 'BOUNDARY='), b: m.b };
    }
    case 'single-nontext':
      return attachment(r);
    case 'rfc822-top':
      return { h: 'Content-Type: message/rfc822\n', b: innerMessage(r, ts) };
    case 'rfc2231-continuation':
      return multipart(r, 'multipart/mixed', [textPart(r, 'qp'), {
        h: `Content-Type: text/plain; charset=utf-8\nContent-Description: ${encWords('Beschreibung für Ärger')}\n` +
          'Content-Disposition: attachment;\n filename*0="a-very-long-file-name-that-is-";\n filename*1="split-in-two.txt"\n',
        b: ['just text\n'] }]);
    case 'header-only': case 'address-comments': case 'bare-lf': case 'big':
      return textPart(r, 'plain');
  }
}

// ---------------------------------------------------------------- messages

const BASE_TS = Date.UTC(2025, 0, 1) / 1000;

// INTERNALDATE rises with the index; folders named after a year keep their mail in that year.
function timestamp(r: Rng, index: number, folder: string): number {
  const t = Math.max(index, 0) * 1800 + r.int(0, 1700);
  const year = /(20\d\d)/.exec(folder)?.[1];
  if (!year) return BASE_TS + t;
  const start = Date.UTC(Number(year), 0, 1) / 1000;
  return start + (t % (Date.UTC(Number(year) + 1, 0, 1) / 1000 - start));
}

function flagsFor(r: Rng, folder: string): string[] {
  const f = folder.toLowerCase();
  const flags: string[] = [];
  if (f.startsWith('sent')) flags.push('\\Seen');
  else if (f.startsWith('entw') || f.includes('draft')) flags.push(...(r.chance(0.5) ? ['\\Draft', '\\Seen'] : ['\\Draft']));
  else {
    if (r.chance(0.75)) flags.push('\\Seen', ...(r.chance(0.15) ? ['\\Answered'] : []));
    if (r.chance(0.1)) flags.push('\\Flagged');
  }
  if (r.chance(0.05)) flags.push('$Forwarded');
  if (r.chance(0.05)) flags.push('NonJunk');
  return flags;
}

function makeMessage(seed: number, index: number, folder: string, bigBytes: number): CorpusMessage {
  const r = new Rng(`${seed}:${index}`);
  const rolled = r.weighted(KINDS);
  const kind: Kind = bigBytes ? 'big' : index >= 0 && index < ALL_KINDS.length ? ALL_KINDS[index] : rolled;
  const ts = timestamp(r, index, folder);
  const sent = folder.toLowerCase().startsWith('sent');
  const latin1 = kind === 'latin1' || r.chance(0.3);

  let subject: string;
  if (kind === 'latin1') subject = encWords(r.pick(LATIN1_SUBJECTS), 'ISO-8859-1');
  else if (kind === '8bit' && r.chance(0.5)) subject = r.pick(NONASCII_SUBJECTS); // raw 8-bit header
  else if (r.chance(0.3)) subject = encWords(r.pick(NONASCII_SUBJECTS));
  else subject = r.pick(SUBJECTS).replace('{n}', String(r.int(1, 9999)));
  if (r.chance(0.03)) subject = 'A rather long subject line that goes on and on ' + Array.from({ length: 40 }, () => r.pick(WORDS)).join(' ');
  const from = sent ? ME : kind === 'latin1' ? addr(r, r.pick(LATIN1_NAMES), 'ISO-8859-1') : addr(r, undefined, latin1 ? 'ISO-8859-1' : 'UTF-8');
  const to = sent ? addr(r) : ME;
  const messageId = `<${r.hex(16)}.${index < 0 ? `big${seed}` : index}@${r.pick(DOMAINS)}>`;

  let h = `Return-Path: <bounce-${index}@${r.pick(DOMAINS)}>\n`;
  for (let hop = 0, hops = r.int(1, 3); hop < hops; hop++) {
    h += fold('Received', `from mx${hop}.${r.pick(DOMAINS)} (mx${hop}.example [192.0.2.${r.int(1, 254)}]) by mail.example.com ` +
      `(Postfix) with ESMTPS id ${r.hex(10).toUpperCase()} for <test@example.com>; ${rfc2822Date(ts - hop * 7, 0)}`);
  }
  if (r.chance(0.4)) {
    const sig = r.bytes(256).toString('base64');
    h += 'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel1;\n' +
      `\th=from:to:subject:date:message-id; bh=${r.bytes(32).toString('base64')};\n` +
      `\tb=${(sig.match(/.{1,64}/g) ?? []).join('\n\t  ')}\n`;
  }
  h += `Date: ${rfc2822Date(ts - r.int(2, 300), r.pick([0, 60, 120, -300, -480, 330, 540]))}\n`;
  if (kind === 'address-comments') {
    h += `From: ${sent ? 'test@example.com (Test User)' : addr(r).replace(/^(.*) <(.*)>$/, '$2 ($1)')}\nTo: ${to} (work address)\nCc: (nobody) undisclosed-recipients:;\n` +
      `Reply-To: "Support (Team)" <support@example.org> (use this one)\n`;
  } else {
    h += `From: ${from}\n` + fold('To', [to, ...(r.chance(0.15) ? Array.from({ length: r.int(1, 25) }, () => addr(r)) : [])].join(', '));
    if (r.chance(0.2)) h += fold('Cc', Array.from({ length: r.int(1, 4) }, () => addr(r)).join(', '));
  }
  h += fold('Subject', subject) + `Message-ID: ${messageId}\n`;
  if (r.chance(0.35)) {
    const refs = Array.from({ length: r.int(1, 30) }, () => randomMsgId(r));
    h += `In-Reply-To: ${refs[refs.length - 1]}\n` + fold('References', refs.join(' '));
  }
  if (folder.toLowerCase().startsWith('lists')) {
    h += 'List-Id: Dev discussion <dev-list.lists.example.org>\n' +
      'List-Unsubscribe: <mailto:dev-list-leave@lists.example.org>, <https://lists.example.org/u>\nPrecedence: list\n';
  }
  if (r.chance(0.3)) h += `X-Mailer: ${r.pick(MAILERS)}\n`;
  const flags = flagsFor(r, folder);
  const base = { folder, flags, internalDate: new Date(ts * 1000), index, kind, messageId };

  if (kind === 'big') return bigParts(r, seed, index, h, base, bigBytes);
  const body = makeBody(r, kind, ts);
  h += (body.extra ?? '') + 'MIME-Version: 1.0\n';
  if (kind === 'header-only') { // no blank line, no body at all
    const bytes = toBytes([h]);
    return { ...base, size: bytes.length, vsize: bytes.length, chunks: () => [bytes] };
  }
  const out: Out = [h + body.h + '\n', ...body.b];
  if (kind === 'bare-lf') {
    const bytes = toBytes(out, false);
    const lfs = bytes.toString('latin1').split('\n').length - 1;
    return { ...base, size: bytes.length, vsize: bytes.length + lfs, chunks: () => [bytes] };
  }
  const bytes = toBytes(out);
  return { ...base, size: bytes.length, vsize: bytes.length, chunks: () => [bytes] };
}

/** A text part plus one huge attachment; the attachment is regenerated from its own PRNG on each chunks() call. */
function bigParts(r: Rng, seed: number, index: number, h: string, base: Omit<CorpusMessage, 'size' | 'chunks'>, n: number): CorpusMessage {
  const text = textPart(r, 'plain');
  const bnd = `----=_Part_${r.hex(24).toUpperCase()}`;
  const head = toBytes([h + `MIME-Version: 1.0\nContent-Type: multipart/mixed;\n boundary="${bnd}"\n\n--${bnd}\n${text.h}\n`, ...text.b,
    `--${bnd}\nContent-Type: application/octet-stream;\n name="big-archive.tar.gz"\nContent-Transfer-Encoding: base64\n` +
    'Content-Disposition: attachment; filename="big-archive.tar.gz"\n\n']);
  const tail = toBytes([`--${bnd}--\n`]);
  const size = head.length + base64Size(n) + tail.length;
  return {
    ...base, size, vsize: size,
    *chunks() {
      yield head;
      yield* base64Lines(new Rng(`${seed}:${index}:big`), n, Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
      yield tail;
    },
  };
}
