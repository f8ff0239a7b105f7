/**
 * THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3), pure: messages in, the thread
 * list of a `* THREAD` response out, in Dovecot's format (`(1 2 (3)(4))`).
 */
export interface ThreadMessage {
  /** What the answer names: a sequence number, or a UID for UID THREAD. */
  id: number;
  /** Sent date (seconds); ties are broken by `id` order, which is mailbox order. */
  date: number;
  subject: string;
  replyOrForward: boolean;
  messageId: string;
  parents: readonly string[];
}

interface Node {
  message?: ThreadMessage;
  parent?: Node;
  children: Node[];
}

function link(parent: Node, child: Node): void {
  unlink(child);
  child.parent = parent;
  parent.children.push(child);
}

function unlink(child: Node): void {
  const parent = child.parent;
  if (!parent) return;
  parent.children.splice(parent.children.indexOf(child), 1);
  child.parent = undefined;
}

/** `ancestor` is `node` or above it. */
function isAncestor(ancestor: Node, node: Node): boolean {
  for (let at: Node | undefined = node; at; at = at.parent) if (at === ancestor) return true;
  return false;
}

/** The message a node sorts and groups by: its own, or (a dummy) its first child's. */
function representative(node: Node): ThreadMessage | undefined {
  return node.message ?? (node.children[0] ? representative(node.children[0]) : undefined);
}

function compareNodes(a: Node, b: Node): number {
  const x = representative(a);
  const y = representative(b);
  if (!x || !y) return 0;
  return x.date - y.date || x.id - y.id;
}

/** Sorts each set of siblings by sent date, children first (a dummy sorts by its first child). */
function sortTree(nodes: Node[]): void {
  for (const node of nodes) sortTree(node.children);
  nodes.sort(compareNodes);
}

function render(node: Node): string {
  const own = node.message ? String(node.message.id) : '';
  const { children } = node;
  if (children.length === 0) return own;
  if (children.length === 1 && node.message) return `${own} ${render(children[0] as Node)}`;
  const nested = children.map((child) => `(${render(child)})`).join('');
  return own ? `${own} ${nested}` : nested;
}

const renderRoots = (roots: readonly Node[]): string => roots.map((root) => `(${render(root)})`).join('');

/** ORDEREDSUBJECT: by base subject, then sent date; each subject a thread of its first message and the rest as its children. */
export function orderedSubjectThreads(messages: readonly ThreadMessage[]): string {
  const sorted = [...messages].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.date - b.date || a.id - b.id));
  const roots: Node[] = [];
  let current: Node | undefined;
  for (const message of sorted) {
    if (current?.message && current.message.subject === message.subject) {
      current.children.push({ message, children: [], parent: current });
      continue;
    }
    current = { message, children: [] };
    roots.push(current);
  }
  roots.sort(compareNodes);
  return renderRoots(roots);
}

/** REFERENCES (RFC 5256 3, steps 1-6). */
export function referencesThreads(messages: readonly ThreadMessage[]): string {
  const byId = new Map<string, Node>();
  const all: Node[] = [];
  const container = (id: string): Node => {
    let node = byId.get(id);
    if (!node) {
      node = { children: [] };
      byId.set(id, node);
      all.push(node);
    }
    return node;
  };
  for (const message of messages) {
    // (1A) the message's container; a duplicate or missing Message-ID gets a unique one
    let node = message.messageId ? byId.get(message.messageId) : undefined;
    if (node && !node.message) node.message = message;
    else {
      node = { message, children: [] };
      all.push(node);
      if (message.messageId && !byId.has(message.messageId)) byId.set(message.messageId, node);
    }
    // (1B) each reference the parent of the next, where not linked already and without a loop
    let previous: Node | undefined;
    for (const id of message.parents) {
      const reference = container(id);
      if (previous && !reference.parent && !isAncestor(reference, previous)) link(previous, reference);
      previous = reference;
    }
    // (1C) the last reference is the message's parent, replacing any it had (as Dovecot does,
    // the old link goes even where the new one would make a loop)
    if (previous && previous === node.parent) continue;
    unlink(node);
    if (previous && !isAncestor(node, previous)) link(previous, node);
  }
  // (2) the root set; (3) dummies pruned
  const roots = prune(all.filter((node) => !node.parent), true);
  // (4) sorted by sent date; (5) grouped by base subject; (6) siblings sorted again
  sortTree(roots);
  const grouped = groupBySubject(roots);
  sortTree(grouped);
  return renderRoots(grouped);
}

/** RFC 5256 3 step (3): dummies without children go, others give way to their children (at the root, only to one). */
function prune(nodes: Node[], root: boolean): Node[] {
  const kept: Node[] = [];
  for (const node of nodes) {
    node.children = prune(node.children, false);
    for (const child of node.children) child.parent = node;
    if (node.message) kept.push(node);
    else if (node.children.length > 0 && (!root || node.children.length === 1)) kept.push(...node.children);
    else if (node.children.length > 0) kept.push(node);
  }
  if (root) for (const node of kept) node.parent = undefined;
  return kept;
}

/** RFC 5256 3 step (5): root threads of the same base subject merged. */
function groupBySubject(roots: Node[]): Node[] {
  const subjectOf = (node: Node) => representative(node)?.subject ?? '';
  const isReply = (node: Node) => !!node.message?.replyOrForward;
  const table = new Map<string, Node>();
  for (const node of roots) {
    const subject = subjectOf(node);
    if (!subject) continue;
    const entry = table.get(subject);
    if (!entry || (!node.message && entry.message) || (entry.message && isReply(entry) && node.message && !isReply(node))) table.set(subject, node);
  }
  const result = [...roots];
  for (const node of roots) {
    const subject = subjectOf(node);
    const entry = subject ? table.get(subject) : undefined;
    if (!entry || entry === node) continue;
    result.splice(result.indexOf(node), 1);
    if (!entry.message && !node.message) {
      for (const child of node.children) child.parent = entry;
      entry.children.push(...node.children);
    } else if (!entry.message || (isReply(node) && !isReply(entry))) {
      link(entry, node);
    } else {
      const dummy: Node = { children: [] };
      result.splice(result.indexOf(entry), 1, dummy);
      link(dummy, entry);
      link(dummy, node);
      table.set(subject, dummy);
    }
  }
  return result;
}
