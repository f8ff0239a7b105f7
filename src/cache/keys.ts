import { createHash } from 'node:crypto';
import type { AccountId, FolderPath, Uid } from '../model/types.js';

/**
 * Key layout of the metadata database. Everything a folder holds lives under one prefix
 * `x!<fid>!`, where fid is a random id given to one generation of a folder: a UIDVALIDITY
 * change, a rename or a cache clear swaps the folder record to a new fid in one write, and the
 * old generation is deleted in the background. UIDs are fixed-width hex so that key order is
 * UID order. The bytes of sections live in the bodies database (body-store.ts).
 *
 *   a!<acct>                         account record
 *   d!<acct>                         message bytes downloaded today (records.ts DownloadRecord)
 *   l!<acct>                         folder list (LIST) of the account
 *   f!<acct>!<path>                  folder record: fid, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, ...
 *   x!<fid>!m!<uid>                  message metadata (flags, modseq, size, internaldate)
 *   x!<fid>!s!<uid>                  raw ENVELOPE / BODYSTRUCTURE / BODY
 *   x!<fid>!h!<uid>!<section>        section record: length, header length, where its chunks are
 *   x!<fid>!v!<modseq>!<uid>         UIDs expunged at that modseq (a UID set; <uid>: its first)
 *   x!<fid>!q!<modseq>!<uid>         empty: the message's modseq is that (CHANGEDSINCE reads what changed, not the folder)
 *   w!<acct>!<path>                  a cleared folder's last HIGHESTMODSEQ (records.ts ModseqMark)
 *   x!<fid>!k!<uid>                  sort and thread keys derived from ENVELOPE and References
 *   g!<fid>                          a dropped folder generation whose data is still being deleted
 *   c!<acct>!<sha256><length>        a whole body stored by content, once for every folder of the
 *                                    account it is in: its chunks and how many section records refer to it
 *   i!<acct>!<X-GM-MSGID>            the content id a Gmail message was stored as (a hint: checked on use)
 *   z!content                        every whole body is stored by content (content-migration.ts is done)
 *   z!stopped                        the proxy stopped cleanly, nothing unreferenced left: its next start needs no sweep
 *   r!<first chunk>                  dropped chunks of a second copy whose space is still to be compacted away
 */

/** Section name of the whole message (BODY[]). */
export const FULL_BODY = '$';
/** Section name of the header block (BODY[HEADER]), kept apart when only headers were fetched. */
export const HEADER_BLOCK = 'HEADER';

const uidHex = (uid: Uid) => uid.toString(16).padStart(8, '0');

/** A content's id: its account, then the SHA-256 of its bytes and their length, in hex. */
export function contentId(account: AccountId, digest: Buffer, length: number): string {
  return `${account}!${digest.toString('hex')}${length.toString(16).padStart(8, '0')}`;
}

/** The parts of a content id. */
export function parseContentId(id: string): { account: AccountId; digest: Buffer; length: number } {
  const at = id.lastIndexOf('!') + 1;
  return { account: id.slice(0, at - 1), digest: Buffer.from(id.slice(at, at + 64), 'hex'), length: parseInt(id.slice(at + 64), 16) };
}
/** Modseqs are below 2^53 here (Number): 14 hex digits keep key order modseq order. */
const modseqHex = (modseq: number) => modseq.toString(16).padStart(14, '0');

/** Section names become key parts; anything beyond plain part paths is hashed to stay key-safe. */
export function sectionKeyPart(section: string): string {
  if (/^[$A-Z0-9.]{1,40}$/.test(section)) return section;
  return `q${createHash('sha256').update(section).digest('hex').slice(0, 24)}`;
}

/** The smallest key greater than every key that starts with prefix. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export const keys = {
  account: (acct: AccountId) => `a!${acct}`,
  accountPrefix: () => 'a!',
  downloads: (acct: AccountId) => `d!${acct}`,
  folderList: (acct: AccountId) => `l!${acct}`,
  folder: (acct: AccountId, path: FolderPath) => `f!${acct}!${path}`,
  /** The folders of one account, or (without `acct`) of all. */
  folderPrefix: (acct?: AccountId) => (acct === undefined ? 'f!' : `f!${acct}!`),
  folderData: (fid: string) => `x!${fid}!`,
  meta: (fid: string, uid: Uid) => `x!${fid}!m!${uidHex(uid)}`,
  metaPrefix: (fid: string) => `x!${fid}!m!`,
  structure: (fid: string, uid: Uid) => `x!${fid}!s!${uidHex(uid)}`,
  structurePrefix: (fid: string) => `x!${fid}!s!`,
  messageKeys: (fid: string, uid: Uid) => `x!${fid}!k!${uidHex(uid)}`,
  section: (fid: string, uid: Uid, section: string) => `x!${fid}!h!${uidHex(uid)}!${sectionKeyPart(section)}`,
  sectionsOf: (fid: string, uid: Uid) => `x!${fid}!h!${uidHex(uid)}!`,
  sectionPrefix: (fid: string) => `x!${fid}!h!`,
  vanished: (fid: string, modseq: number, firstUid: Uid) => `x!${fid}!v!${modseqHex(modseq)}!${uidHex(firstUid)}`,
  /** Where the expunges above `modseq` start. */
  vanishedAbove: (fid: string, modseq: number) => `x!${fid}!v!${modseqHex(modseq + 1)}`,
  vanishedPrefix: (fid: string) => `x!${fid}!v!`,
  changed: (fid: string, modseq: number, uid: Uid) => `x!${fid}!q!${modseqHex(modseq)}!${uidHex(uid)}`,
  /** The first key of the modseq index above a modseq. */
  changedAbove: (fid: string, modseq: number) => `x!${fid}!q!${modseqHex(modseq + 1)}`,
  changedPrefix: (fid: string) => `x!${fid}!q!`,
  modseqMark: (acct: AccountId, path: FolderPath) => `w!${acct}!${path}`,
  garbage: (fid: string) => `g!${fid}`,
  garbagePrefix: () => 'g!',
  content: (id: string) => `c!${id}`,
  /** Every content, or (with `acct`) those of one account. */
  contentPrefix: (acct?: AccountId) => (acct === undefined ? 'c!' : `c!${acct}!`),
  messageId: (acct: AccountId, msgid: string) => `i!${acct}!${msgid}`,
  messageIdPrefix: () => 'i!',
  contentLayout: () => 'z!content',
  stoppedCleanly: () => 'z!stopped',
  /** Chunk sequence numbers as in the bodies database: fixed-width hex. */
  reclaim: (start: number) => `r!${start.toString(16).padStart(12, '0')}`,
  reclaimPrefix: () => 'r!',
};

/** Reads the UID back out of a key that ends in one: meta, structure, sort keys, modseq index. */
export function uidOfMetaKey(key: string): Uid {
  return parseInt(key.slice(key.length - 8), 16);
}

/** The UID and the section key part of a section key (`x!<fid>!h!<uid>!<part>`), given its folder's section prefix. */
export function parseSectionKey(prefix: string, key: string): { uid: Uid; part: string } {
  return { uid: parseInt(key.slice(prefix.length, prefix.length + 8), 16), part: key.slice(prefix.length + 9) };
}
