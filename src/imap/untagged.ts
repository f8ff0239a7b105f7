import type { Uid } from '../model/types.js';
import { indexOfUid } from '../model/uid-set.js';
import type { ImapSession } from './imap-core.js';

/**
 * Untagged responses a write command owes its own session (other sessions hear of the change
 * through the notifier). Written before the command's tagged answer.
 */

/** `* n EXPUNGE` for each UID the session knows, keeping its sequence numbers in step. */
export function writeExpunges(session: ImapSession, uids: readonly Uid[]): void {
  const selected = session.selected;
  if (!selected) return;
  for (const uid of [...uids].sort((a, b) => a - b)) {
    const index = indexOfUid(selected.uidList, uid);
    if (index < 0) continue;
    selected.uidList.splice(index, 1);
    session.writeStream.write({ compiled: Buffer.from(`* ${index + 1} EXPUNGE`) });
  }
}

/** `* n FETCH (UID u FLAGS (...) [MODSEQ (m)])` for messages whose flags changed. */
export function writeFlagFetches(session: ImapSession, updates: readonly { uid: Uid; flags: string[]; modseq: string }[], withFlags: boolean): void {
  const selected = session.selected;
  if (!selected) return;
  const modseq = selected.condstoreEnabled;
  if (!withFlags && !modseq) return;
  for (const update of updates) {
    const index = indexOfUid(selected.uidList, update.uid);
    if (index < 0) continue;
    const items = [`UID ${update.uid}`];
    if (withFlags) items.push(`FLAGS (${update.flags.join(' ')})`);
    if (modseq && update.modseq !== '0') items.push(`MODSEQ (${update.modseq})`);
    session.writeStream.write({ compiled: Buffer.from(`* ${index + 1} FETCH (${items.join(' ')})`) });
  }
}
