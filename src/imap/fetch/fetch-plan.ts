import type { StructureItem } from '../../model/types.js';
import type { PartRequest } from '../../sync/part-sections.js';
import { binarySection } from '../../upstream/imap-tokens.js';
import type { FetchQueryItem } from '../imap-core.js';

/** Where a literal item's bytes come from. */
export type LiteralSource =
  | { kind: 'full' } // BODY[], RFC822
  | { kind: 'header' } // BODY[HEADER], RFC822.HEADER
  | { kind: 'text' } // BODY[TEXT], RFC822.TEXT
  | { kind: 'fields'; names: ReadonlySet<string>; exclude: boolean } // BODY[HEADER.FIELDS (..)]
  | { kind: 'part'; request: PartRequest; fields?: { names: ReadonlySet<string>; exclude: boolean } } // anything below a MIME part
  | { kind: 'binary'; section: string }; // BINARY[part]: decoded by upstream, cached as it came

export type PlannedItem =
  | { kind: 'uid' | 'flags' | 'size' | 'internaldate' | 'modseq' }
  | { kind: 'structure'; item: StructureItem; name: string }
  | { kind: 'binarySize'; name: string; section: string }
  | { kind: 'literal'; name: string; source: LiteralSource; partial?: { start: number; length: number } };

/** What one FETCH needs, decided once for all its messages. */
export interface FetchPlan {
  items: PlannedItem[];
  structures: StructureItem[];
  /** Whole bodies are needed (BODY[], BODY[TEXT], RFC822...). */
  fullBody: boolean;
  /** Header blocks are needed (from the whole body when cached, else fetched alone). */
  headerBlock: boolean;
  parts: PartRequest[];
  /** BINARY sections (binarySection names), for BINARY[] and BINARY.SIZE[] items. */
  binaries: string[];
  /** FLAGS is among the items. */
  hasFlags: boolean;
}

const STRUCTURE_NAMES: Record<string, StructureItem> = { envelope: 'envelope', bodystructure: 'bodystructure' };

export function planFetch(query: readonly FetchQueryItem[]): FetchPlan {
  const plan: FetchPlan = { items: [], structures: [], fullBody: false, headerBlock: false, parts: [], binaries: [], hasFlags: false };
  const structures = new Set<StructureItem>();
  const parts = new Map<string, PartRequest>();
  const binaries = new Set<string>();
  for (const q of query) {
    const planned = planItem(q);
    plan.items.push(planned);
    if (planned.kind === 'structure') structures.add(planned.item);
    if (planned.kind === 'flags') plan.hasFlags = true;
    if (planned.kind === 'binarySize') binaries.add(planned.section);
    if (planned.kind !== 'literal') continue;
    const source = planned.source;
    if (source.kind === 'binary') binaries.add(source.section);
    if (source.kind === 'full' || source.kind === 'text') plan.fullBody = true;
    if (source.kind === 'header' || source.kind === 'fields') plan.headerBlock = true;
    if (source.kind === 'part') parts.set(source.request.section, source.request);
  }
  plan.structures = [...structures];
  plan.parts = [...parts.values()];
  plan.binaries = [...binaries];
  return plan;
}

function planItem(q: FetchQueryItem): PlannedItem {
  switch (q.item) {
    case 'uid':
      return { kind: 'uid' };
    case 'flags':
      return { kind: 'flags' };
    case 'rfc822.size':
      return { kind: 'size' };
    case 'internaldate':
      return { kind: 'internaldate' };
    case 'modseq':
      return { kind: 'modseq' };
    case 'envelope':
    case 'bodystructure':
      return { kind: 'structure', item: STRUCTURE_NAMES[q.item] as StructureItem, name: q.item.toUpperCase() };
    case 'rfc822':
      return { kind: 'literal', name: 'RFC822', source: { kind: 'full' } };
    case 'rfc822.header':
      return { kind: 'literal', name: 'RFC822.HEADER', source: { kind: 'header' } };
    case 'rfc822.text':
      return { kind: 'literal', name: 'RFC822.TEXT', source: { kind: 'text' } };
    default:
      break;
  }
  // BODY without a section is the non-extensible BODYSTRUCTURE
  if (q.type === undefined) return { kind: 'structure', item: 'body', name: 'BODY' };
  const partial = q.partial ? { start: q.partial.startFrom, length: q.partial.maxLength || Number.MAX_SAFE_INTEGER } : undefined;
  if (q.item === 'binary.size') return { kind: 'binarySize', name: `BINARY.SIZE[${q.path ?? ''}]`, section: binarySection(q.path ?? '') };
  if (q.item === 'binary' || q.item === 'binary.peek') {
    const source: LiteralSource = { kind: 'binary', section: binarySection(q.path ?? '') };
    return { kind: 'literal', name: `BINARY[${q.path ?? ''}]${partial ? `<${partial.start}>` : ''}`, source, ...(partial ? { partial } : {}) };
  }
  const section = sectionText(q);
  const name = `BODY[${section}]${partial ? `<${partial.start}>` : ''}`;
  const literal = (source: LiteralSource): PlannedItem => ({ kind: 'literal', name, source, ...(partial ? { partial } : {}) });
  const type = q.type ?? '';
  const fields = type === 'header.fields' || type === 'header.fields.not' ? { names: new Set((q.headers ?? []).map((h) => h.toUpperCase())), exclude: type === 'header.fields.not' } : undefined;
  if (q.path) return literal({ kind: 'part', request: { section, path: q.path, type }, ...(fields ? { fields } : {}) });
  if (fields) return literal({ kind: 'fields', ...fields });
  switch (type) {
    case 'content':
      return literal({ kind: 'full' });
    case 'header':
      return literal({ kind: 'header' });
    case 'text':
      return literal({ kind: 'text' });
    default:
      // MIME at the top, or what imap-core did not take apart: upstream decides
      return literal({ kind: 'part', request: { section, path: '', type } });
  }
}

/** The section as upstream and the response name spell it: "1.2.TEXT", "HEADER.FIELDS (FROM TO)". */
function sectionText(q: FetchQueryItem): string {
  const type = q.type === 'content' ? '' : (q.type ?? '').toUpperCase();
  const base = q.path ? (type ? `${q.path}.${type}` : q.path) : type;
  return q.headers ? `${base} (${q.headers.map((h) => h.toUpperCase()).join(' ')})` : base;
}
