/**
 * SELECT and EXAMINE, replacing imap-core's command module (core-patches.ts), which always
 * answers `* 0 RECENT`, never `[UNSEEN n]`, and announces only the keywords it is handed. The
 * untagged responses are those RFC 3501 6.3.1 requires, in Dovecot's order.
 */
import { argumentText, type Callback, type CommandArgument, type ImapSession, type SelectedState } from './imap-core.js';
import { stateOf } from './session-state.js';
import { flagsResponses } from './untagged.js';

/** What the proxy's onOpen handler gives for a folder it opened. */
export interface OpenedMailbox {
  _id: string;
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
  _server: { onOpen(path: string, session: ImapSession, readOnly: boolean, callback: (err: Error | null, mailbox?: OpenedMailbox | string) => void): void };
}

export function makeSelectHandler(normalizeMailbox: (path: string, utf7: boolean) => string) {
  return function (this: SelectConnection, command: { command: string; attributes?: CommandArgument[] }, callback: Callback): void {
    const verb = command.command.toUpperCase();
    const readOnly = verb === 'EXAMINE';
    const [name, extensions] = command.attributes ?? [];
    const path = normalizeMailbox(argumentText(name), !this.acceptUTF8Enabled);
    if ((Array.isArray(extensions) ? extensions : []).some((option) => String(option?.value ?? '').toUpperCase() === 'CONDSTORE')) {
      this.condstoreEnabled = true;
    }
    const deselect = () => {
      this.session.selected = this.selected = false;
      this.state = 'Authenticated';
    };
    // a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1)
    deselect();
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
      const state = stateOf(this.session);
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
      callback(null, { response: 'OK', code: readOnly ? 'READ-ONLY' : 'READ-WRITE', message: `${verb} completed${condstore}` });
    });
  };
}
