import type { Logger } from '../../log.js';
import { METADATA_SCAN_BATCH } from '../../model/limits.js';
import { indexOfUid, intersectRanges, rangesContain, rangesToSet, sortedAmong, type UidRange } from '../../model/uid-set.js';
import type { Folder } from '../../sync/folder.js';
import { ResponseWriter } from '../fetch/response-writer.js';
import type { ImapSession } from '../imap-core.js';
import { folderOf } from '../mailbox-id.js';
import type { ResyncRequest } from '../qresync.js';
import { flagFetchLines } from '../untagged.js';

/** `* VANISHED (EARLIER) set` for the UIDs `within` that were expunged above a modseq; undefined when none were. */
export async function vanishedEarlier(folder: Folder, modseq: number, within: readonly UidRange[]): Promise<string | undefined> {
  const gone = intersectRanges(await folder.vanishedSince(modseq), within);
  return gone.length > 0 ? `* VANISHED (EARLIER) ${rangesToSet(gone)}` : undefined;
}

/**
 * What SELECT / EXAMINE with QRESYNC owes a client that reconnects (RFC 7162 3.2.5.1), after the
 * mailbox's untagged responses: the UIDs it knows that were expunged since its modseq, then
 * `* n FETCH (UID FLAGS MODSEQ)` for each of them that changed since (Dovecot's order). From the
 * proxy's record of expunges and its modseqs; the metadata is read in batches, or only the
 * messages the folder knows changed (its journal, the cache's modseq index) where it can tell.
 */
export function makeResyncSelected(deps: { log: Logger }) {
  return async (session: ImapSession, request: ResyncRequest): Promise<void> => {
    const selected = session.selected;
    if (!selected) return;
    const folder = folderOf(session, selected.mailbox);
    const writer = new ResponseWriter(session);
    const vanished = await vanishedEarlier(folder, request.modseq, request.knownUids);
    if (vanished) await writer.write([vanished]);
    const uids = selected.uidList.slice();
    const changed = await folder.changedSince(request.modseq);
    const candidates = changed ? sortedAmong(uids, changed) : uids;
    const since = BigInt(request.modseq);
    for (let i = 0; i < candidates.length; i += METADATA_SCAN_BATCH) {
      const batch = candidates.slice(i, i + METADATA_SCAN_BATCH).filter((uid) => rangesContain(request.knownUids, uid));
      for (const meta of await folder.metas(batch)) {
        if (!meta || BigInt(meta.modseq) <= since) continue;
        const seq = indexOfUid(selected.uidList, meta.uid) + 1;
        if (seq === 0) continue;
        for (const line of flagFetchLines(session, seq, meta)) await writer.write([line]);
      }
    }
    await writer.flush();
    deps.log.debug({ session: session.id, folder: folder.path }, 'QRESYNC: changes sent');
  };
}
