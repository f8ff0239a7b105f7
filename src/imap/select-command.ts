/**
 * SELECT and EXAMINE, replacing imap-core's command module (core-patches.ts), which always
 * answers `* 0 RECENT`, never `[UNSEEN n]`, announces only the keywords it is handed and knows no
 * QRESYNC. The untagged responses are those RFC 3501 6.3.1 requires, in Dovecot's order, then
 * with QRESYNC what changed since the client was last there (RFC 7162 3.2.5).
 */
import { argumentText, type Callback, type CommandArgument, type ImapSession, type SelectedState } from './imap-core.js';
import { parseSelectOptions, type ResyncRequest } from './qresync.js';
import { contain, stateOf } from './session-state.js';
import { flagsResponses } from './untagged.js';

/** What the proxy's onOpen handler gives for a folder it opened. */
export interface OpenedMailbox {
  _id: string;
  /** The folder's own UID list, never changed in place: the session copies it before it changes it (uidsShared). */
  uidList: number[];
  uidValidity: number;
  uidNext: number;
  modifyIndex: number;
  /** Keywords of the folder. */
  flags: string[];
  /** The messages that are \Recent in this session. */
  recent: number[];
  /** Sequence number of the first message without \Seen; 0: none. */
  firstUnseen: number;
}

interface SelectConnection {
  session: ImapSession;
  selected: SelectedState | false;
  state: string;
  condstoreEnabled: boolean;
  acceptUTF8Enabled: boolean;
  send(line: string): void;
  _server: {
    onOpen(path: string, session: ImapSession, readOnly: boolean, callback: (err: Error | null, mailbox?: OpenedMailbox | string) => void): void;
    options: { resyncSelected(session: ImapSession, request: ResyncRequest): Promise<void> };
  };
}

export function makeSelectHandler(normalizeMailbox: (path: string, utf7: boolean) => string) {
  return function (this: SelectConnection, command: { command: string; attributes?: CommandArgument[] }, callback: Callback): void {
    const verb = command.command.toUpperCase();
    const readOnly = verb === 'EXAMINE';
    const [name, extensions] = command.attributes ?? [];
    const path = normalizeMailbox(argumentText(name), !this.acceptUTF8Enabled);
    const state = stateOf(this.session);
    const options = parseSelectOptions(extensions, state.qresync);
    // a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1); the one before is closed first (RFC 7162 3.2.11)
    if (this.selected) this.send('* OK [CLOSED] Previous mailbox closed.');
    this.session.selected = this.selected = false;
    this.state = 'Authenticated';
    if (typeof options === 'string') return callback(null, { response: 'BAD', message: options });
    if (options.condstore) this.condstoreEnabled = true;
    if (!path) return callback(null, { response: 'NO', code: 'NONEXISTENT', message: 'Mailbox name missing' });
    this._server.onOpen(path, this.session, readOnly, (err, mailbox) => {
      if (err) return callback(err);
      if (!mailbox || typeof mailbox === 'string') return callback(null, { response: 'NO', code: mailbox || 'NONEXISTENT', message: `${verb} failed` });
      this.session.selected = this.selected = {
        modifyIndex: mailbox.modifyIndex,
        uidList: mailbox.uidList,
        notifications: [],
        condstoreEnabled: this.condstoreEnabled,
        readOnly,
        mailbox: mailbox._id,
        path,
      };
      this.state = 'Selected';
      state.uidsShared = true;
      state.contextSearches.clear();
      state.savedResult = [];
      state.keywords = new Set(mailbox.flags);
      state.recent = new Set(mailbox.recent);
      const lines = [
        ...flagsResponses(state.keywords),
        `* ${mailbox.uidList.length} EXISTS`,
        `* ${mailbox.recent.length} RECENT`,
        ...(mailbox.firstUnseen ? [`* OK [UNSEEN ${mailbox.firstUnseen}] First unseen.`] : []),
        `* OK [UIDVALIDITY ${mailbox.uidValidity}] UIDs valid`,
        `* OK [UIDNEXT ${mailbox.uidNext}] Predicted next UID`,
        `* OK [HIGHESTMODSEQ ${mailbox.modifyIndex || 1}] Highest`,
      ];
      this.send(lines.join('\r\n'));
      const condstore = this.condstoreEnabled ? ', CONDSTORE is now enabled' : '';
      const done = () => callback(null, { response: 'OK', code: readOnly ? 'READ-ONLY' : 'READ-WRITE', message: `${verb} completed${condstore}` });
      // a client that reconnects hears what changed since it was last here (same UIDVALIDITY only)
      const resync = options.qresync?.uidValidity === mailbox.uidValidity ? options.qresync : undefined;
      if (!resync) return done();
      this._server.options.resyncSelected(this.session, resync).then(
        () => contain(this.session, done),
        (err: Error) => contain(this.session, () => callback(err)),
      );
    });
  };
}
