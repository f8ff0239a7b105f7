import { titlecase } from './casemap.js';
import { decodeEncodedWords } from './encoded-words.js';

/** A base subject (RFC 5256 2.1), and whether extracting it took off a reply or forward marker. */
export interface BaseSubject {
  subject: string;
  replyOrForward: boolean;
}

/** `[blob]` and one space after it at `at`; the position after it, or -1. */
function blobEnd(text: string, at: number): number {
  if (text[at] !== '[') return -1;
  let pos = at + 1;
  while (pos < text.length && text[pos] !== '[' && text[pos] !== ']') pos++;
  if (text[pos] !== ']') return -1;
  pos++;
  return text[pos] === ' ' ? pos + 1 : pos;
}

/** subj-leader (RFC 5256 5): the position after it, or `at` when there is none. */
function leaderEnd(text: string, at: number, found: { replyOrForward: boolean }): number {
  let start = at;
  if (text[start] === ' ') start++;
  let pos = start;
  while (text[pos] === '[') {
    const end = blobEnd(text, pos);
    if (end < 0) return start;
    pos = end;
  }
  if (text.startsWith('RE', pos)) pos += 2;
  else if (text.startsWith('FWD', pos)) pos += 3;
  else if (text.startsWith('FW', pos)) pos += 2;
  else return start;
  if (text[pos] === ' ') pos++;
  if (text[pos] === '[') {
    pos = blobEnd(text, pos);
    if (pos < 0) return start;
  }
  if (text[pos] !== ':') return start;
  found.replyOrForward = true;
  return pos + 1;
}

/**
 * The base subject of a Subject header value, as Dovecot extracts it (imap_get_base_subject_cased):
 * encoded words decoded, title-cased, whitespace packed, then the RFC 5256 2.1 steps.
 */
export function baseSubject(raw: string): BaseSubject {
  const found = { replyOrForward: false };
  let text = titlecase(decodeEncodedWords(raw)).replace(/[ \t\r\n]+/g, ' ');
  let start = 0;
  for (;;) {
    // (2) subj-trailer: "(fwd)" or whitespace at the end
    for (;;) {
      if (text.length > start && text.endsWith(' ')) text = text.slice(0, -1);
      else if (text.length - 5 >= start && text.endsWith('(FWD)')) {
        found.replyOrForward = true;
        text = text.slice(0, -5);
      } else break;
    }
    // (3)-(5) subj-leader, and a blob that leaves something after it
    for (;;) {
      const afterLeader = leaderEnd(text, start, found);
      const blob = blobEnd(text, afterLeader);
      const afterBlob = blob >= 0 && blob < text.length ? blob : afterLeader;
      if (afterBlob === start) break;
      start = afterBlob;
    }
    // (6) subj-fwd: "[fwd:" ... "]"
    if (text.startsWith('[FWD:', start) && text.endsWith(']') && text.length - 1 > start) {
      found.replyOrForward = true;
      text = text.slice(0, -1);
      start += 5;
      continue;
    }
    return { subject: text.slice(start), replyOrForward: found.replyOrForward };
  }
}
