import { AsciiWriter } from './ascii-writer.js';

/**
 * THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3), pure: messages in, the thread
 * list of a `* THREAD` response out, in Dovecot's format (`(1 2 (3)(4))`). Messages and thread
 * containers are numbers and every link lives in typed arrays: a million messages are some
 * tens of MB, not a million objects.
 */
export interface ThreadSet {
  /** Messages 0 .. n-1 in mailbox order; what the answer names each by (sequence number or UID, ascending). */
  names: ArrayLike<number>;
  /** Sent date (seconds); ties are broken by mailbox order. */
  date: ArrayLike<number>;
  /** Base subject as a rank: equal subjects share one, ranks ordered as the subjects. */
  subject: ArrayLike<number>;
  /** The rank of the empty subject, -1 when no message has it. */
  emptySubject: number;
  /** Subject ranks are below this. */
  subjectRanks: number;
  /** 1 where the base subject was found under Re:, Fwd: and the like. */
  replyOrForward: ArrayLike<number>;
  /** Each message's interned Message-ID (0 .. ids-1), -1 when it has none. */
  messageId: ArrayLike<number>;
  /** Message i's parents (interned ids, oldest first) are parents[parentStart[i] .. parentStart[i+1]). */
  parentStart: ArrayLike<number>;
  parents: ArrayLike<number>;
  /** How many ids are interned. */
  ids: number;
}

const NONE = -1;

/**
 * The thread containers: ids first (container k is Message-ID k), then one per message without
 * its own, then the dummies subject grouping makes. Every walk over the trees follows the links
 * (parent, first child, next sibling) instead of recursing: a reply chain may be 100,000 deep.
 */
class Containers {
  readonly message: Int32Array;
  readonly parent: Int32Array;
  readonly first: Int32Array;
  readonly last: Int32Array;
  readonly next: Int32Array;
  readonly previous: Int32Array;
  /** The message a container sorts and groups by: its own, or (a dummy) its first child's. */
  readonly representative: Int32Array;
  readonly exists: Uint8Array;
  /** Containers below this have been made or are ids. */
  spare: number;

  constructor(
    readonly set: ThreadSet,
    capacity: number,
  ) {
    this.spare = set.ids;
    this.message = new Int32Array(capacity).fill(NONE);
    this.parent = new Int32Array(capacity).fill(NONE);
    this.first = new Int32Array(capacity).fill(NONE);
    this.last = new Int32Array(capacity).fill(NONE);
    this.next = new Int32Array(capacity).fill(NONE);
    this.previous = new Int32Array(capacity).fill(NONE);
    this.representative = new Int32Array(capacity).fill(NONE);
    this.exists = new Uint8Array(capacity);
  }

  make(container = this.spare++): number {
    this.exists[container] = 1;
    return container;
  }

  link(parent: number, child: number): void {
    this.insertBefore(parent, child, NONE);
  }

  /** Makes `child` a child of `parent` just before its child `before` (NONE: last). */
  insertBefore(parent: number, child: number, before: number): void {
    this.unlink(child);
    this.parent[child] = parent;
    const previous = before === NONE ? (this.last[parent] as number) : (this.previous[before] as number);
    this.previous[child] = previous;
    this.next[child] = before;
    if (previous === NONE) this.first[parent] = child;
    else this.next[previous] = child;
    if (before === NONE) this.last[parent] = child;
    else this.previous[before] = child;
  }

  unlink(child: number): void {
    const parent = this.parent[child] as number;
    if (parent === NONE) return;
    const previous = this.previous[child] as number;
    const next = this.next[child] as number;
    if (previous === NONE) this.first[parent] = next;
    else this.next[previous] = next;
    if (next === NONE) this.last[parent] = previous;
    else this.previous[next] = previous;
    this.parent[child] = NONE;
  }

  children(node: number): number[] {
    const list: number[] = [];
    for (let child = this.first[node] as number; child !== NONE; child = this.next[child] as number) list.push(child);
    return list;
  }

  /** `ancestor` is `node` or above it. */
  isAncestor(ancestor: number, node: number): boolean {
    // a container without children is above nothing: no walk up a long chain for it
    if (this.first[ancestor] === NONE) return ancestor === node;
    for (let at = node; at !== NONE; at = this.parent[at] as number) if (at === ancestor) return true;
    return false;
  }

  /** Calls `visit` with each container of the tree under `root`, children before their parent, `root` last. `visit` may unlink the container it is given. */
  postOrder(root: number, visit: (node: number) => void): void {
    let node = this.deepestFirst(root);
    for (;;) {
      const next = this.next[node] as number;
      const parent = this.parent[node] as number;
      visit(node);
      if (node === root) return;
      node = next !== NONE ? this.deepestFirst(next) : parent;
    }
  }

  private deepestFirst(node: number): number {
    let at = node;
    while (this.first[at] !== NONE) at = this.first[at] as number;
    return at;
  }

  compare = (a: number, b: number): number => {
    const x = this.representative[a] as number;
    const y = this.representative[b] as number;
    if (x === NONE || y === NONE) return 0;
    return (this.set.date[x] as number) - (this.set.date[y] as number) || x - y;
  };

  /** Sorts each set of siblings by sent date, children first (a dummy sorts by its first child). */
  sortTree(roots: number[]): number[] {
    for (const root of roots) this.postOrder(root, (node) => this.sortChildren(node));
    return roots.sort(this.compare);
  }

  private sortChildren(node: number): void {
    const first = this.first[node] as number;
    if (first !== NONE && this.next[first] !== NONE) {
      for (const child of this.children(node).sort(this.compare)) this.link(node, child);
    }
    const own = this.message[node] as number;
    this.representative[node] = own !== NONE ? own : this.first[node] !== NONE ? (this.representative[this.first[node] as number] as number) : NONE;
  }

  /** The roots' threads: a child goes in parentheses unless it is the only child of a message. */
  render(roots: readonly number[]): string {
    const out = new AsciiWriter(answerBytes(this.set));
    const inParentheses = (node: number) => {
      const parent = this.parent[node] as number;
      return parent === NONE || this.message[parent] === NONE || this.first[parent] !== this.last[parent];
    };
    for (const root of roots) {
      let node = root;
      let entering = true;
      for (;;) {
        if (entering) {
          if (inParentheses(node)) out.open();
          const own = this.message[node] as number;
          if (own !== NONE) out.number(this.set.names[own] as number);
          const first = this.first[node] as number;
          if (first !== NONE) {
            if (own !== NONE) out.space();
            node = first;
            continue;
          }
        }
        // leaving node: on to its next sibling, or leaving its parent
        if (inParentheses(node)) out.close();
        if (node === root) break;
        const next = this.next[node] as number;
        entering = next !== NONE;
        node = entering ? next : (this.parent[node] as number);
      }
    }
    return out.toString();
  }
}

const messageCount = (set: ThreadSet) => set.names.length;

/** Bytes enough for an answer naming every message once: its digits, a space and parentheses. */
function answerBytes(set: ThreadSet): number {
  let largest = 0;
  for (let i = 0; i < messageCount(set); i++) largest = Math.max(largest, set.names[i] as number);
  return messageCount(set) * (String(largest).length + 3);
}

/** ORDEREDSUBJECT: by base subject, then sent date; each subject a thread of its first message and the rest as its children. */
export function orderedSubjectThreads(set: ThreadSet): string {
  const n = messageCount(set);
  const { subject, date } = set;
  const sorted = new Uint32Array(n).map((_v, i) => i);
  sorted.sort((a, b) => (subject[a] as number) - (subject[b] as number) || (date[a] as number) - (date[b] as number) || a - b);
  // each thread as the range of `sorted` it covers, the first message its root
  const starts: number[] = [];
  const ends = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && subject[sorted[i] as number] === subject[sorted[i - 1] as number]) continue;
    if (starts.length > 0) ends[starts[starts.length - 1] as number] = i;
    starts.push(i);
  }
  if (starts.length > 0) ends[starts[starts.length - 1] as number] = n;
  starts.sort((a, b) => {
    const x = sorted[a] as number;
    const y = sorted[b] as number;
    return (date[x] as number) - (date[y] as number) || x - y;
  });
  const out = new AsciiWriter(answerBytes(set));
  for (const start of starts) {
    const end = ends[start] as number;
    out.open();
    out.number(set.names[sorted[start] as number] as number);
    if (end - start === 2) {
      out.space();
      out.number(set.names[sorted[start + 1] as number] as number);
    } else if (end - start > 2) {
      out.space();
      for (let i = start + 1; i < end; i++) {
        out.open();
        out.number(set.names[sorted[i] as number] as number);
        out.close();
      }
    }
    out.close();
  }
  return out.toString();
}

/** REFERENCES (RFC 5256 3, steps 1-6). */
export function referencesThreads(set: ThreadSet): string {
  const n = messageCount(set);
  const c = new Containers(set, containersNeeded(set));
  for (let i = 0; i < n; i++) {
    // (1A) the message's container; a duplicate or missing Message-ID gets a unique one
    const id = set.messageId[i] as number;
    let node: number;
    if (id !== NONE && !c.exists[id]) node = c.make(id);
    else if (id !== NONE && c.message[id] === NONE) node = id;
    else node = c.make();
    c.message[node] = i;
    // (1B) each reference the parent of the next, where not linked already and without a loop
    let previous = NONE;
    for (let p = set.parentStart[i] as number; p < (set.parentStart[i + 1] as number); p++) {
      const reference = set.parents[p] as number;
      if (!c.exists[reference]) c.make(reference);
      if (previous !== NONE && c.parent[reference] === NONE && !c.isAncestor(reference, previous)) c.link(previous, reference);
      previous = reference;
    }
    // (1C) the last reference is the message's parent, replacing any it had (as Dovecot does,
    // the old link goes even where the new one would make a loop)
    if (previous !== NONE && previous === c.parent[node]) continue;
    c.unlink(node);
    if (previous !== NONE && !c.isAncestor(node, previous)) c.link(previous, node);
  }
  // (2) the root set; (3) dummies pruned
  // (the order of roots and siblings before step 4 does not matter: it sorts them all, no ties)
  const roots: number[] = [];
  for (let k = 0; k < c.spare; k++) if (c.exists[k] && c.parent[k] === NONE) roots.push(k);
  const pruned = prune(c, roots);
  // (4) sorted by sent date; (5) grouped by base subject; (6) siblings sorted again
  const grouped = groupBySubject(c, c.sortTree(pruned));
  return c.render(c.sortTree(grouped));
}

/** The ids, one container per message without a Message-ID of its own, one dummy per subject at most (step 5 makes one only where a subject has none). */
function containersNeeded(set: ThreadSet): number {
  const owned = new Uint8Array(set.ids);
  let without = 0;
  for (let i = 0; i < messageCount(set); i++) {
    const id = set.messageId[i] as number;
    if (id === NONE || owned[id]) without++;
    else owned[id] = 1;
  }
  return set.ids + without + set.subjectRanks;
}

/** RFC 5256 3 step (3): dummies without children go, others give way to their children (at the root, only to one). */
function prune(c: Containers, roots: readonly number[]): number[] {
  const kept: number[] = [];
  for (const root of roots) {
    c.postOrder(root, (node) => {
      if (node === root || c.message[node] !== NONE) return;
      const parent = c.parent[node] as number;
      for (let child = c.first[node] as number; child !== NONE; child = c.first[node] as number) c.insertBefore(parent, child, node);
      c.unlink(node);
    });
    const first = c.first[root] as number;
    if (c.message[root] !== NONE) kept.push(root);
    else if (first !== NONE && first === c.last[root]) {
      c.unlink(first);
      kept.push(first);
    } else if (first !== NONE) kept.push(root);
  }
  return kept;
}

/** RFC 5256 3 step (5): root threads of the same base subject merged. */
function groupBySubject(c: Containers, roots: readonly number[]): number[] {
  const { set } = c;
  const subjectOf = (node: number) => set.subject[c.representative[node] as number] as number;
  const hasSubject = (node: number) => c.representative[node] !== NONE && subjectOf(node) !== set.emptySubject;
  const isReply = (node: number) => c.message[node] !== NONE && set.replyOrForward[c.message[node] as number] === 1;
  const isDummy = (node: number) => c.message[node] === NONE;
  // the thread each subject's roots merge into, by subject rank
  const table = new Int32Array(set.subjectRanks).fill(NONE);
  for (const node of roots) {
    if (!hasSubject(node)) continue;
    const entry = table[subjectOf(node)] as number;
    if (entry === NONE || (isDummy(node) && !isDummy(entry)) || (!isDummy(entry) && isReply(entry) && !isDummy(node) && !isReply(node))) table[subjectOf(node)] = node;
  }
  // the roots that stay, by position; a dummy may take an entry's place
  const result = [...roots];
  const at = new Int32Array(c.message.length);
  roots.forEach((node, i) => {
    at[node] = i;
  });
  for (const node of roots) {
    const entry = hasSubject(node) ? (table[subjectOf(node)] as number) : NONE;
    if (entry === NONE || entry === node) continue;
    result[at[node] as number] = NONE;
    if (isDummy(entry) && isDummy(node)) {
      for (const child of c.children(node)) c.link(entry, child);
    } else if (isDummy(entry) || (isReply(node) && !isReply(entry))) {
      c.link(entry, node);
    } else {
      const dummy = c.make();
      c.representative[dummy] = c.representative[entry] as number;
      result[at[entry] as number] = dummy;
      at[dummy] = at[entry] as number;
      c.link(dummy, entry);
      c.link(dummy, node);
      table[subjectOf(node)] = dummy;
    }
  }
  return result.filter((node) => node !== NONE);
}
