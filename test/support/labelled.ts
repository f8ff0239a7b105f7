// Mail as Gmail shows it: every message in [Gmail]/All Mail and, as a folder, under each of its
// labels (INBOX is one): the same bytes under another UID in each folder.
import { generateCorpus } from './corpus.js';
import type { MailMessage } from './maildir.js';
import { Rng } from './prng.js';

export const ALL_MAIL = '[Gmail]/All Mail';
export const LABELS = ['INBOX', 'Work', 'Travel', 'Receipts', 'Family'];

export interface LabelledCorpus {
  mail: MailMessage[];
  /** Bytes (RFC822.SIZE) of each message once. */
  distinctBytes: number;
  /** Bytes of every copy, as upstream counts them. */
  totalBytes: number;
}

/** A copy of a message in each of these folders. */
export function inFolders(message: MailMessage, folders: readonly string[]): MailMessage[] {
  return folders.map((folder) => ({ ...message, folder }));
}

/** `messages` messages of the test corpus, each in All Mail and under one to five labels (seeded). */
export function labelledCorpus(options: { messages: number; seed: number; bigFraction?: number; bigSizeMb?: number }): LabelledCorpus {
  const corpus: LabelledCorpus = { mail: [], distinctBytes: 0, totalBytes: 0 };
  for (const message of generateCorpus({ ...options, folders: ALL_MAIL })) {
    const rng = new Rng(`${options.seed}:${message.index}:labels`);
    const labels = LABELS.filter(() => rng.chance(0.35));
    if (labels.length === 0) labels.push(rng.pick(LABELS));
    corpus.mail.push(...inFolders(message, [ALL_MAIL, ...labels]));
    const size = message.vsize ?? message.size;
    corpus.distinctBytes += size;
    corpus.totalBytes += size * (1 + labels.length);
  }
  return corpus;
}
