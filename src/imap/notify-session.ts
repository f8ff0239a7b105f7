/**
 * NOTIFY (RFC 5465) delivery for one session: what it asked for (notify-command.ts), heard from
 * the account's events and sent as untagged responses whenever nothing else is being answered
 * (idle, or between commands), not only during IDLE. Other mailboxes' message changes become
 * `* STATUS`, folder list changes `* LIST`; the selected mailbox keeps imap-core's EXISTS /
 * EXPUNGE / FETCH, pushed at once where SELECTED asks for it. Bounded: at most one pending STATUS
 * and one pending LIST per mailbox, its values read when it is sent; past MAX_NOTIFY_PENDING
 * mailboxes the session gets NOTIFICATIONOVERFLOW and no more notifications.
 */
import type { Logger } from '../log.js';
import { MAX_NOTIFY_PENDING } from '../model/limits.js';
import { isSelectable, type FolderPath } from '../model/types.js';
import type { Account, FolderListChange } from '../sync/account.js';
import type { SessionState, TaggedAnswer } from './session-state.js';
import { hasMessageEvents, type EventGroup, type MailboxFilter, type NotifyEvent, type NotifyRequest } from './notify-command.js';

/** What a NOTIFY session needs of its connection (core-patches.ts builds it). */
export interface NotifyOutput {
  /** Sends one untagged response. */
  write(line: string): void;
  /** Nothing is being answered now (idle, or between commands): a response written now stands alone. */
  quiet(): boolean;
  /** The client reads slower than it is written to: true, and `resume` runs once it caught up. */
  backedUp(resume: () => void): boolean;
  /** The path of the selected mailbox, if any. */
  selected(): FolderPath | undefined;
  /** Sends the selected mailbox's queued EXISTS / EXPUNGE / FETCH now; `withExpunges` false: not while an expunge is queued. */
  flushSelected(withExpunges: boolean): void;
  /** The session enabled CONDSTORE or QRESYNC: its STATUS for FlagChange carries HIGHESTMODSEQ. */
  condstore(): boolean;
  /** A mailbox name as the client wrote it, as a folder path. */
  folderPath(name: string): FolderPath;
  /** `* STATUS name (item value ...)`. */
  statusLine(path: FolderPath, items: readonly (readonly [string, string | number])[]): string;
  /** `* LIST (flags) "/" name`, with `("OLDNAME" (old))` after a rename. */
  listLine(flags: readonly string[], path: FolderPath, oldPath?: FolderPath): string;
}

type SetRequest = Extract<NotifyRequest, { kind: 'set' }>;

/**
 * Runs a NOTIFY for a logged-in session: its tagged answer. A NOTIFY SET that is accepted replaces
 * the session's earlier one (RFC 5465 3); NOTIFY NONE ends it.
 */
export async function runNotify(sessionId: string, state: SessionState, request: NotifyRequest, output: NotifyOutput): Promise<TaggedAnswer> {
  if (request.kind === 'refused') return { response: request.response, ...(request.code ? { code: request.code } : {}), message: request.message };
  const account = state.account;
  if (!account) return { response: 'BAD', message: 'NOTIFY not allowed now' };
  state.notify?.stop();
  state.notify = undefined;
  if (request.kind === 'set') {
    const session = new NotifySession(sessionId, account, request, output, state.log);
    await session.start();
    state.notify = session;
  }
  return { response: 'OK', message: 'NOTIFY completed' };
}

/** A folder's status as NOTIFY reports it. */
interface StatusValues {
  messages: number;
  uidNext: number;
  uidValidity: number;
  unseen: number;
  highestModseq?: string;
}

export class NotifySession {
  private readonly groups: EventGroup[];
  private subscribed = new Set<FolderPath>();
  /** Mailboxes whose STATUS is owed. */
  private readonly pendingStatus = new Set<FolderPath>();
  /** LIST responses owed, one per mailbox and kind. */
  private readonly pendingLists = new Map<string, string>();
  /** What each mailbox's last STATUS said: a change that leaves it as it was is not told. */
  private readonly told = new Map<FolderPath, StatusValues>();
  /** The folders watched for message changes: polled upstream where upstream has no NOTIFY. */
  private readonly watched = new Set<FolderPath>();
  private flushing = false;
  private waiting = false;
  private stopped = false;
  private readonly onChanged = (path: FolderPath) => this.folderChanged(path);
  private readonly onListChanged = (change: FolderListChange) => this.listChanged(change);
  private readonly onSubscriptionChanged = (path: FolderPath, subscribed: boolean) => this.subscriptionChanged(path, subscribed);

  constructor(
    private readonly sessionId: string,
    private readonly account: Account,
    private readonly request: SetRequest,
    private readonly output: NotifyOutput,
    private readonly log: Logger,
  ) {
    this.groups = request.groups.map((group) => ({ ...group, filter: this.normalized(group.filter) }));
  }

  /** Starts listening; with STATUS, sends the status of every mailbox it watches for message events first. */
  async start(): Promise<void> {
    if (this.groups.some((group) => group.filter.kind === 'subscribed')) this.subscribed = new Set(await this.account.subscriptions());
    if (this.groups.some((group) => hasMessageEvents(group.events))) {
      // a fresh listing: the folders to report on are those there are now
      for (const entry of await this.account.list(0)) if (isSelectable(entry) && this.watches(entry.path)) this.watched.add(entry.path);
    }
    if (this.request.status) await this.sendInitialStatus();
    this.account.watcher.sessionNotified(this.sessionId, [...this.watched]);
    this.account.on('changed', this.onChanged).on('listChanged', this.onListChanged).on('subscriptionChanged', this.onSubscriptionChanged);
  }

  stop(): void {
    this.stopped = true;
    this.pendingStatus.clear();
    this.pendingLists.clear();
    this.account.watcher.sessionNotified(this.sessionId, []);
    this.account.off('changed', this.onChanged).off('listChanged', this.onListChanged).off('subscriptionChanged', this.onSubscriptionChanged);
  }

  /** A command was answered: what waited for it goes out now. */
  commandEnded(): void {
    this.pushSelected();
    void this.flush();
  }

  private normalized(filter: MailboxFilter): MailboxFilter {
    return 'names' in filter ? { ...filter, names: filter.names.map((name) => this.output.folderPath(name)) } : filter;
  }

  /** The first group whose filter takes the mailbox (RFC 5465 6); the selected one's message events are SELECTED's. */
  private groupOf(path: FolderPath): EventGroup | undefined {
    return this.groups.find(({ filter }) => {
      switch (filter.kind) {
        case 'personal':
          return true;
        case 'subscribed':
          return this.subscribed.has(path);
        case 'subtree':
          return filter.names.some((name) => path === name || path.startsWith(`${name}/`));
        case 'mailboxes':
          return filter.names.includes(path);
      }
    });
  }

  private wants(path: FolderPath, event: NotifyEvent): boolean {
    return this.groupOf(path)?.events.has(event) ?? false;
  }

  /** The mailbox's message changes are to be told. */
  private watches(path: FolderPath): boolean {
    const group = this.groupOf(path);
    return !!group && hasMessageEvents(group.events);
  }

  /** Dovecot's initial STATUS: UIDVALIDITY UIDNEXT MESSAGES UNSEEN, and HIGHESTMODSEQ where FlagChange is asked for. */
  private async sendInitialStatus(): Promise<void> {
    const modseq = this.groups.some((group) => group.events.has('FlagChange'));
    for (const path of this.watched) {
      if (path === this.output.selected()) continue;
      const status = await this.statusOf(path, modseq);
      if (!status) continue;
      this.told.set(path, status);
      const items: [string, string | number][] = [
        ['MESSAGES', status.messages],
        ['UIDNEXT', status.uidNext],
        ['UIDVALIDITY', status.uidValidity],
        ['UNSEEN', status.unseen],
      ];
      if (status.highestModseq !== undefined) items.push(['HIGHESTMODSEQ', status.highestModseq]);
      this.output.write(this.output.statusLine(path, items));
    }
  }

  private async statusOf(path: FolderPath, modseq: boolean): Promise<StatusValues | undefined> {
    try {
      const status = await this.account.status(path);
      const values = { messages: status.messages, uidNext: status.uidNext, uidValidity: status.uidValidity, unseen: status.unseen ?? 0 };
      return modseq ? { ...values, highestModseq: await this.account.folder(path).statusModseq(status) } : values;
    } catch (err) {
      this.log.debug({ err, folder: path }, 'NOTIFY: no status for a folder');
      return undefined;
    }
  }

  private folderChanged(path: FolderPath): void {
    if (path === this.output.selected()) return this.pushSelected();
    if (!this.watches(path)) return;
    this.pendingStatus.add(path);
    this.queued();
  }

  private listChanged(change: FolderListChange): void {
    const from = change.kind === 'renamed' ? change.from : undefined;
    if (from) {
      this.pendingStatus.delete(from);
      this.told.delete(from);
      this.pendingLists.delete(`name:${from}`);
    }
    if (change.kind === 'deleted') this.told.delete(change.path);
    if (from) this.rewatch(from, true);
    this.rewatch(change.path, change.kind === 'deleted');
    if (!this.wants(change.path, 'MailboxName') && !(from && this.wants(from, 'MailboxName'))) return;
    const flags = change.kind === 'deleted' ? ['\\NonExistent'] : [];
    this.pendingLists.set(`name:${change.path}`, this.output.listLine(flags, change.path, from));
    this.queued();
  }

  /** A folder created, renamed, deleted or (un)subscribed: the folders polled for this session follow. */
  private rewatch(path: FolderPath, gone = false): void {
    if (!gone && this.watches(path)) this.watched.add(path);
    else this.watched.delete(path);
    this.account.watcher.sessionNotified(this.sessionId, [...this.watched]);
  }

  private subscriptionChanged(path: FolderPath, subscribed: boolean): void {
    if (subscribed) this.subscribed.add(path);
    else this.subscribed.delete(path);
    this.rewatch(path);
    if (!this.wants(path, 'SubscriptionChange')) return;
    this.pendingLists.set(`subscription:${path}`, this.output.listLine(subscribed ? ['\\Subscribed'] : [], path));
    this.queued();
  }

  /** SELECTED: the selected mailbox's changes go out as they come; SELECTED-DELAYED holds expunges for a command. */
  private pushSelected(): void {
    const selected = this.request.selected;
    if (this.stopped || !selected || !hasMessageEvents(selected.events) || !this.output.quiet()) return;
    this.output.flushSelected(!selected.delayed);
  }

  private queued(): void {
    if (this.pendingStatus.size + this.pendingLists.size > MAX_NOTIFY_PENDING) return this.overflow();
    void this.flush();
  }

  /** RFC 5465 5.8: the session is told, and gets no more notifications (as after NOTIFY NONE). */
  private overflow(): void {
    this.stop();
    this.pendingLists.set('overflow', '* OK [NOTIFICATIONOVERFLOW] Too many changes at once: notifications stopped');
    void this.flush();
  }

  /** Sends what is owed while the session is quiet and the client keeps up; one flush at a time. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.writable()) {
        const [key, line] = this.pendingLists.entries().next().value ?? [];
        if (key !== undefined && line !== undefined) {
          this.pendingLists.delete(key);
          this.output.write(line);
          continue;
        }
        const path = this.pendingStatus.values().next().value;
        if (path === undefined || this.stopped) break;
        this.pendingStatus.delete(path);
        const update = await this.statusUpdate(path);
        // a command may have started meanwhile: the mailbox waits for its end
        if (update && !this.writable()) this.pendingStatus.add(path);
        else if (update) this.output.write(update);
      }
    } finally {
      this.flushing = false;
    }
  }

  private writable(): boolean {
    if (!this.output.quiet()) return false;
    if (this.waiting) return false;
    const backedUp = this.output.backedUp(() => {
      this.waiting = false;
      void this.flush();
    });
    if (backedUp) this.waiting = true;
    return !backedUp;
  }

  /** `* STATUS` of a changed mailbox, when what its group asks about differs from what was told. */
  private async statusUpdate(path: FolderPath): Promise<string | undefined> {
    const group = this.groupOf(path);
    if (!group || path === this.output.selected()) return undefined;
    const modseq = group.events.has('FlagChange') && this.output.condstore();
    const status = await this.statusOf(path, modseq);
    if (!status) return undefined;
    const before = this.told.get(path);
    this.told.set(path, status);
    const same =
      before?.messages === status.messages &&
      before.uidNext === status.uidNext &&
      before.unseen === status.unseen &&
      (status.highestModseq === undefined || before.highestModseq === status.highestModseq);
    if (same) return undefined;
    const items: [string, string | number][] = [
      ['MESSAGES', status.messages],
      ['UIDNEXT', status.uidNext],
      ['UNSEEN', status.unseen],
    ];
    if (status.highestModseq !== undefined) items.push(['HIGHESTMODSEQ', status.highestModseq]);
    return this.output.statusLine(path, items);
  }
}
