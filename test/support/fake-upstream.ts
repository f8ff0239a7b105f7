// A stand-in for one upstream folder, for unit tests of the pool, the folder sync and the body
// fetcher: it answers the UpstreamConnection calls they make (SELECT, UID FETCH of metadata and
// of body partials, UID SEARCH ALL) from messages held in memory, and counts what was asked.
// The end-to-end tests talk to real Dovecot; this only lets one layer be driven alone.
import { EventEmitter } from 'node:events';
import type { FolderStatus } from '../../src/model/types.js';
import type { UpstreamFetch } from '../../src/upstream/fetch-parse.js';
import type { AtomToken, Token } from '../../src/upstream/imap-tokens.js';
import type { UpstreamConnection } from '../../src/upstream/upstream-connection.js';

export interface FakeMessage {
  flags: string[];
  body: Buffer;
  modseq: number;
  /** Gmail's X-GM-MSGID, answered where the folder is `gmail`. */
  gmMsgId?: string;
}

/** What the fake connections were asked, in order. */
export interface UpstreamCall {
  command: 'open' | 'fetch' | 'search';
  detail: string;
}

export class FakeFolder {
  readonly messages = new Map<number, FakeMessage>();
  readonly calls: UpstreamCall[] = [];
  uidValidity = 1;
  uidNext = 1;
  highestModseq = 1;
  /** Without it, the folder has no CONDSTORE (HIGHESTMODSEQ 0, no MODSEQ). */
  condstore = true;
  /** Announces X-GM-EXT-1 and answers X-GM-MSGID, as Gmail does. */
  gmail = false;
  /** Each fetch waits for this first (a test holds upstream back with it). */
  gate: Promise<void> = Promise.resolve();

  add(body: string | Buffer, flags: string[] = [], gmMsgId?: string): number {
    const uid = this.uidNext++;
    this.messages.set(uid, { flags, body: Buffer.isBuffer(body) ? body : Buffer.from(body), modseq: ++this.highestModseq, ...(gmMsgId ? { gmMsgId } : {}) });
    return uid;
  }

  setFlags(uid: number, flags: string[]): void {
    const message = this.messages.get(uid);
    if (!message) throw new Error(`no message ${uid}`);
    message.flags = flags;
    message.modseq = ++this.highestModseq;
  }

  expunge(uid: number): void {
    this.messages.delete(uid);
    this.highestModseq++;
  }

  status(): FolderStatus {
    return {
      uidValidity: this.uidValidity,
      uidNext: this.uidNext,
      messages: this.messages.size,
      highestModseq: this.condstore ? String(this.highestModseq) : '0',
      keywords: [],
    };
  }

  /** A connection to this folder, as UpstreamConnection.connect would give. */
  connection(): UpstreamConnection {
    return new FakeConnection(this) as unknown as UpstreamConnection;
  }
}

/** The members of UpstreamConnection the pool and the sync layer use. */
class FakeConnection extends EventEmitter {
  usable = true;
  selectedPath: string | null = null;
  selectedReadOnly = true;
  readonly qresyncEnabled = false;
  readonly transferred = { read: 0, written: 0 };
  patience = Infinity;

  constructor(private readonly folder: FakeFolder) {
    super();
  }

  attach(): void {}

  hasCapability(name: string): boolean {
    return name === 'UIDPLUS' || (name === 'X-GM-EXT-1' && this.folder.gmail);
  }

  async open(path: string, readOnly: boolean): Promise<FolderStatus> {
    this.folder.calls.push({ command: 'open', detail: path });
    this.selectedPath = path;
    this.selectedReadOnly = readOnly;
    return this.folder.status();
  }

  async close(): Promise<void> {
    this.usable = false;
    this.emit('close');
  }

  get messageCount(): number {
    return this.folder.messages.size;
  }

  async uidSearch(): Promise<number[]> {
    this.folder.calls.push({ command: 'search', detail: 'ALL' });
    return [...this.folder.messages.keys()];
  }

  async uidFetch(uidSet: string, items: Token[], onFetch: (fetched: UpstreamFetch) => Promise<void> | void, options: { modifiers?: Token[] } = {}): Promise<void> {
    await this.folder.gate;
    const atoms = items as AtomToken[];
    this.folder.calls.push({ command: 'fetch', detail: `${uidSet} ${atoms.map(describe).join(' ')}` });
    const changedSince = options.modifiers ? Number((options.modifiers[1] as AtomToken).value) : 0;
    // answered in the order of the messages, once each, with their sequence numbers
    const all = [...this.folder.messages.keys()].sort((a, b) => a - b);
    const asked = new Set(uidsOf(uidSet, all[all.length - 1] ?? 0));
    for (const [index, uid] of all.entries()) {
      const message = this.folder.messages.get(uid);
      if (!asked.has(uid) || !message || message.modseq <= changedSince) continue;
      const fetched: UpstreamFetch = { seq: index + 1, uid, sections: new Map() };
      for (const item of atoms) {
        if (item.value === 'FLAGS') fetched.flags = [...message.flags];
        if (item.value === 'RFC822.SIZE') fetched.size = message.body.length;
        if (item.value === 'INTERNALDATE') fetched.internalDate = '06-Dec-2026 10:00:00 +0000';
        if (item.value === 'MODSEQ') fetched.modseq = String(message.modseq);
        if (item.value === 'X-GM-MSGID') fetched.gmMsgId = message.gmMsgId;
        if (item.value === 'BODY.PEEK' && (item.section ?? []).length === 0) {
          const [offset, length] = (item.partial ?? [0, message.body.length]).map(Number) as [number, number];
          fetched.sections.set('', message.body.subarray(offset, offset + length));
        }
      }
      await onFetch(fetched);
    }
  }
}

function describe(item: AtomToken): string {
  return item.partial ? `${item.value}[]<${item.partial.join('.')}>` : item.value;
}

/** The UIDs of a UID set ("1:*", "3,5:7"), `*` being `max` (the highest UID there is: `n:*` names it when n is above). */
function uidsOf(set: string, max: number): number[] {
  const uids: number[] = [];
  for (const part of set.split(',')) {
    const [a, b = a] = part.split(':').map((x) => (x === '*' ? max : Number(x))) as [number, number?];
    for (let uid = Math.min(a, b as number); uid <= Math.max(a, b as number); uid++) uids.push(uid);
  }
  return uids;
}
