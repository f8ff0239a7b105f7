// Writes messages straight into a Dovecot Maildir++ tree, like an MDA: safe
// while Dovecot is running (tmp/ then rename into cur/ or new/).
import { chown, mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface MailMessage {
  folder: string; // IMAP name, "/" hierarchy: "INBOX", "Archive/2024", "Entwürfe"
  flags?: string[]; // \Seen \Answered \Flagged \Draft \Deleted and keywords ($Forwarded, ...)
  internalDate: Date; // becomes the file's mtime = Dovecot's INTERNALDATE
  size: number; // exact byte length of chunks()
  /** Size with every line ending as CRLF (RFC822.SIZE). When known it goes into the file name (W=) so Dovecot need not read the file for it. */
  vsize?: number;
  /** The raw bytes, possibly huge; may be iterated more than once, yields the same bytes each time. */
  chunks(): Iterable<Buffer>;
}

const SYSTEM_FLAGS: Record<string, string> = {
  '\\draft': 'D', '\\flagged': 'F', '\\answered': 'R', '\\seen': 'S', '\\deleted': 'T',
};

/** IMAP modified UTF-7 (RFC 3501 5.1.3). */
export function mutf7(name: string): string {
  return name.replace(/&/g, '&-').replace(/[^\x20-\x7e]+/g, (run) => {
    const utf16be = Buffer.from(run, 'utf16le').swap16();
    return '&' + utf16be.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
  });
}

/** Directory of an IMAP folder: INBOX is the root, "Archive/2024" is ".Archive.2024". */
export function folderDir(maildirRoot: string, folder: string): string {
  if (folder.toUpperCase() === 'INBOX') return maildirRoot;
  if (folder.includes('.')) throw new Error(`folder ${JSON.stringify(folder)}: '.' is the Maildir++ separator`);
  return path.join(maildirRoot, '.' + mutf7(folder).replace(/\//g, '.'));
}

// Files are owned like the Maildir root (as root: the mail uid Dovecot runs as).
async function ownerOf(maildirRoot: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const st = await stat(maildirRoot);
  return { uid: st.uid, gid: st.gid };
}

async function owned(p: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  if (owner) await chown(p, owner.uid, owner.gid);
}

export async function createFolder(maildirRoot: string, folder: string, subscribe = true): Promise<void> {
  const owner = await ownerOf(maildirRoot);
  const dir = folderDir(maildirRoot, folder);
  for (const p of [dir, ...['cur', 'new', 'tmp'].map((s) => path.join(dir, s))]) {
    if (await mkdir(p, { recursive: true })) await owned(p, owner);
  }
  if (dir !== maildirRoot) {
    const marker = path.join(dir, 'maildirfolder');
    await writeFile(marker, '', { flag: 'a' });
    await owned(marker, owner);
  }
  if (subscribe && dir !== maildirRoot) await addSubscription(maildirRoot, folder, owner);
}

// Dovecot 2.3 format: "V\t2\n\n", then one mUTF-7 name per line with "\t" as hierarchy separator.
async function addSubscription(root: string, folder: string, owner: { uid: number; gid: number } | undefined) {
  const file = path.join(root, 'subscriptions');
  const old = await readFile(file, 'ascii').catch(() => 'V\t2\n\n');
  const names = new Set(old.split('\n').slice(2).filter(Boolean));
  const name = mutf7(folder).replace(/\//g, '\t');
  if (names.has(name)) return;
  names.add(name);
  const tmp = path.join(root, 'tmp', `subscriptions.${process.pid}`);
  await writeFile(tmp, 'V\t2\n\n' + [...names].sort().map((n) => n + '\n').join(''));
  await owned(tmp, owner);
  await rename(tmp, file);
}

/** Keyword letters (a..z) of one folder, from and into its dovecot-keywords file. */
async function keywordLetters(dir: string, keywords: string[], owner: { uid: number; gid: number } | undefined) {
  const file = path.join(dir, 'dovecot-keywords');
  const text = await readFile(file, 'utf8').catch(() => '');
  const byName = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line);
    if (m) byName.set(m[2], Number(m[1]));
  }
  let changed = false;
  for (const k of keywords) {
    if (byName.has(k)) continue;
    const used = new Set(byName.values());
    let i = 0;
    while (used.has(i)) i++;
    if (i >= 26) throw new Error(`${dir}: more than 26 keywords`);
    byName.set(k, i);
    changed = true;
  }
  if (changed) {
    const tmp = path.join(dir, 'tmp', `dovecot-keywords.${process.pid}`);
    await writeFile(tmp, [...byName].map(([k, i]) => `${i} ${k}\n`).join(''));
    await owned(tmp, owner);
    await rename(tmp, file);
  }
  return new Map(keywords.map((k) => [k, String.fromCharCode(97 + byName.get(k)!)]));
}

let seq = 0;

/**
 * Delivers messages into the Maildir++ tree rooted at maildirRoot, creating (and subscribing)
 * folders as needed. Dovecot assigns UIDs in delivery order (file names sort that way).
 * With newDir the files land in new/ (\Recent, and flags are not stored).
 */
export async function deliver(
  maildirRoot: string,
  messages: Iterable<MailMessage> | AsyncIterable<MailMessage>,
  opts: { newDir?: boolean } = {},
): Promise<{ messages: number; bytes: number }> {
  const owner = await ownerOf(maildirRoot);
  const folders = new Map<string, string>();
  let count = 0;
  let bytes = 0;
  for await (const msg of messages) {
    let dir = folders.get(msg.folder);
    if (dir === undefined) {
      await createFolder(maildirRoot, msg.folder, true);
      dir = folderDir(maildirRoot, msg.folder);
      folders.set(msg.folder, dir);
    }
    // Dovecot sorts new files by leading seconds, then the number after "M", then by name.
    const base = `${Math.floor(Date.now() / 1000)}.M${++seq}P${process.pid}.imapgen,S=${msg.size}` +
      (msg.vsize === undefined ? '' : `,W=${msg.vsize}`);
    const tmp = path.join(dir, 'tmp', base);
    const written = await writeFileChunks(tmp, msg);
    if (written !== msg.size) throw new Error(`message for ${msg.folder}: size says ${msg.size}, chunks gave ${written}`);
    await owned(tmp, owner);
    const dest = opts.newDir ? path.join(dir, 'new', base) : path.join(dir, 'cur', `${base}:2,${await infoFlags(dir, msg.flags ?? [], owner)}`);
    await rename(tmp, dest);
    count++;
    bytes += written;
  }
  return { messages: count, bytes };
}

async function writeFileChunks(file: string, msg: MailMessage): Promise<number> {
  const fh = await open(file, 'wx');
  let n = 0;
  try {
    for (const chunk of msg.chunks()) {
      for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off)).bytesWritten;
      n += chunk.length;
    }
    await fh.utimes(msg.internalDate, msg.internalDate);
  } finally {
    await fh.close();
  }
  return n;
}

// Maildir info: system flag letters sorted (D F P R S T), then keyword letters sorted.
async function infoFlags(dir: string, flags: string[], owner: { uid: number; gid: number } | undefined): Promise<string> {
  const system: string[] = [];
  const keywords: string[] = [];
  for (const f of flags) {
    if (f.startsWith('\\')) {
      const letter = SYSTEM_FLAGS[f.toLowerCase()];
      if (!letter) throw new Error(`flag ${f} cannot be stored in a Maildir`);
      system.push(letter);
    } else {
      keywords.push(f);
    }
  }
  const letters = keywords.length ? await keywordLetters(dir, keywords, owner) : new Map<string, string>();
  return [...new Set(system)].sort().join('') + [...new Set(keywords.map((k) => letters.get(k)!))].sort().join('');
}
