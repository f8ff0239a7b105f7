import type { Logger } from '../log.js';
import { ProxyError } from '../model/errors.js';
import type { UidRange } from '../model/uid-set.js';
import type { Account } from '../sync/account.js';
import type { ImapSession, ImapToken } from './imap-core.js';
import type { AppendIntake } from './append-intake.js';
import type { SearchReturn } from './esearch.js';
import type { SortRequest } from './sort-command.js';
import type { NotifyRequest } from './notify-command.js';
import type { NotifySession } from './notify-session.js';
import type { ContextSearch } from './search-context.js';

/** A tagged answer as imap-core composes it. */
export interface TaggedAnswer {
  response: 'OK' | 'NO' | 'BAD';
  code?: string;
  message: string;
}

/**
 * What the proxy keeps per client session besides imap-core's own session object. Created with
 * the session (core-patches.ts), gone with it.
 */
export class SessionState {
  /** The account the session logged in to. */
  account: Account | undefined;
  /**
   * The answer a handler chose for the command running now, sent instead of imap-core's own
   * (which turns every handler error into a fixed "NO [TEMPFAIL]" and composes COPYUID and
   * APPENDUID from values a handler may not have).
   */
  answer: TaggedAnswer | undefined;
  /** The SEARCH running now, as the client wrote it (imap-core flattens its parentheses). */
  searchArguments: ImapToken[] = [];
  /** ENABLE QRESYNC was given (RFC 7162 3.2.3): VANISHED instead of EXPUNGE, UID in every FETCH of flags. */
  qresync = false;
  /** The UID FETCH running now has the VANISHED modifier: the UIDs it names (qresync.ts). */
  fetchVanished: UidRange[] | undefined;
  /** The items of the STATUS (or LIST-STATUS) being answered now, upper case. */
  statusItems: string[] = [];
  /** CONDSTORE was enabled in the selected mailbox before the command running now (untagged.ts, announceCondstore). */
  condstoreBefore = false;
  /** The command running now is a SORT or THREAD, run by imap-core as a SEARCH (sort-command.ts). */
  sortRequest: SortRequest | undefined;
  /**
   * The `* SORT` or `* THREAD` line that replaces the `* SEARCH` line imap-core composes for it;
   * for a SORT RETURN (ESORT) the numbers it found in sort order, of which the ESEARCH line is made.
   */
  sortAnswer: string | number[] | undefined;
  /** The SEARCH running now asked for an ESEARCH answer (RETURN options). */
  searchReturn: SearchReturn | undefined;
  /** The special-use attributes of the CREATE running now (RFC 6154 3): `CREATE name (USE (\Archive))`. */
  createUse: string[] = [];
  /** The result SEARCH RETURN (SAVE) kept, as UIDs: what `$` names (saved-search.ts). */
  savedResult: number[] = [];
  /** SEARCH RETURN (UPDATE) results kept up to date in the selected mailbox, by tag (search-context.ts). */
  contextSearches = new Map<string, ContextSearch>();
  /**
   * The selected mailbox's UID list is the folder's own (select-command.ts): whatever changes it
   * asks ownUidList first (imap-core's formatResponse for EXISTS and EXPUNGE, the session's own
   * expunges). A SELECT of a 100,000-message folder copied 800 KB for every session, most of
   * which never change it.
   */
  uidsShared = false;
  /** The messages that are \Recent in this session (RFC 3501 2.3.2), since its SELECT. */
  recent = new Set<number>();
  /** The keywords the session was told of in FLAGS since its SELECT. */
  keywords = new Set<string>();
  /** The APPEND being received now (append-intake.ts): answered at its end, stopped if the client goes. */
  appendIntake: AppendIntake | undefined;
  /** The command running now is a NOTIFY, run by imap-core as a NOOP (core-patches.ts): what it asks. */
  notifyRequest: NotifyRequest | undefined;
  /** What the session's NOTIFY SET asked for, being delivered; none before one or after NOTIFY NONE. */
  notify: NotifySession | undefined;
  /** A command is being received or answered: untagged responses of NOTIFY wait for its end. */
  commandRunning = false;
  /** Ends the notifier's listening to the account on this session's behalf. */
  stopListening: (() => void) | undefined;

  constructor(
    /** Sends `* BYE <message>` and closes the connection (its socket ends after what was sent). */
    readonly disconnect: (message: string) => void,
    /** The proxy's log for this session's server. */
    readonly log: Logger,
  ) {}

  /** The connection ended: its account stops watching on its behalf. */
  closed(sessionId: string): void {
    this.appendIntake?.abort();
    this.notify?.stop();
    this.notify = undefined;
    this.account?.watcher.sessionLeft(sessionId);
    this.account = undefined;
  }
}

const states = new WeakMap<ImapSession, SessionState>();

export function attachState(session: ImapSession, state: SessionState): void {
  states.set(session, state);
}

export function stateOf(session: ImapSession): SessionState {
  const state = states.get(session);
  if (!state) throw new ProxyError('INTERNAL', 'a session without state', { context: { session: session.id } });
  return state;
}

/**
 * The selected mailbox's UID list, the session's own to change (copied from the folder's at the
 * first change: SessionState.uidsShared); undefined with none selected.
 */
export function ownUidList(session: ImapSession): number[] | undefined {
  const selected = session.selected;
  if (!selected) return undefined;
  const state = stateOf(session);
  if (state.uidsShared) {
    selected.uidList = selected.uidList.slice();
    state.uidsShared = false;
  }
  return selected.uidList;
}

/** The account a logged-in session belongs to. */
export function accountOf(session: ImapSession): Account {
  const account = stateOf(session).account;
  if (!account) throw new ProxyError('INTERNAL', 'session has no account', { context: { session: session.id } });
  return account;
}

/** The account of a session, if it logged in. */
export function loggedInAccount(session: ImapSession): Account | undefined {
  return states.get(session)?.account;
}

/** Sends `* BYE <message>` and closes the session's connection. */
export function disconnect(session: ImapSession, message: string): void {
  states.get(session)?.disconnect(message);
}

/**
 * Runs imap-core code for one connection: a command as it is parsed, or the callback that
 * answers it. imap-core catches no exception, so one that escaped would end the process; it
 * ends that connection instead, and is logged.
 */
export function contain(session: ImapSession, step: () => void): void {
  try {
    step();
  } catch (err) {
    const state = states.get(session);
    state?.log.error({ err, session: session.id }, 'exception while answering a command: connection closed');
    state?.disconnect('Internal error in the proxy');
  }
}
