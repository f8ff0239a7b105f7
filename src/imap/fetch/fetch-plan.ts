import type { StructureItem } from '../../model/types.js';
import type { FetchQueryItem } from '../imap-core.js';

/** Where a literal item's bytes come from. */
export type LiteralSource =
  | { kind: 'full' } // BODY[], RFC822
  | { kind: 'header' } // BODY[HEADER], RFC822.HEADER
  | { kind: 'text' } // BODY[TEXT], RFC822.TEXT
  | { kind: 'fields'; names: ReadonlySet<string>; exclude: boolean } // BODY[HEADER.FIELDS (..)]
  | { kind: 'part'; section: string }; // anything below a MIME part: from upstream, cached per section

export type PlannedItem =
  | { kind: 'uid' | 'flags' | 'size' | 'internaldate' | 'modseq' }
  | { kind: 'structure'; item: StructureItem; name: string }
  | { kind: 'literal'; name: string; source: LiteralSource; partial?: { start: number; length: number } };

/** What one FETCH needs, decided once for all its messages. */
export interface FetchPlan {
  items: PlannedItem[];
  structures: StructureItem[];
  /** Whole bodies are needed (BODY[], BODY[TEXT], RFC822...). */
  fullBody: boolean;
  /** Header blocks are needed (from the whole body when cached, else fetched alone). */
  headerBlock: boolean;
  parts: string[];
  /** FLAGS is among the items. */
  hasFlags: boolean;
}

const STRUCTURE_NAMES: Record<string, StructureItem> = { envelope: 'envelope', bodystructure: 'bodystructure' };

export function planFetch(query: readonly FetchQueryItem[]): FetchPlan {
  const plan: FetchPlan = { items: [], structures: [], fullBody: false, headerBlock: false, parts: [], hasFlags: false };
  const structures = new Set<StructureItem>();
  const parts = new Set<string>();
  for (const q of query) {
    const planned = planItem(q);
    plan.items.push(planned);
    if (planned.kind === 'structure') structures.add(planned.item);
    if (planned.kind === 'flags') plan.hasFlags = true;
    if (planned.kind !== 'literal') continue;
    const source = planned.source;
    if (source.kind === 'full' || source.kind === 'text') plan.fullBody = true;
    if (source.kind === 'header' || source.kind === 'fields') plan.headerBlock = true;
    if (source.kind === 'part') parts.add(source.section);
  }
  plan.structures = [...structures];
  plan.parts = [...parts];
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
  const section = sectionText(q);
  const partial = q.partial ? { start: q.partial.startFrom, length: q.partial.maxLength || Number.MAX_SAFE_INTEGER } : undefined;
  const name = `BODY[${section}]${partial ? `<${partial.start}>` : ''}`;
  const literal = (source: LiteralSource): PlannedItem => ({ kind: 'literal', name, source, ...(partial ? { partial } : {}) });
  if (q.path) return literal({ kind: 'part', section });
  switch (q.type) {
    case 'content':
      return literal({ kind: 'full' });
    case 'header':
      return literal({ kind: 'header' });
    case 'text':
      return literal({ kind: 'text' });
    case 'header.fields':
    case 'header.fields.not':
      return literal({
        kind: 'fields',
        names: new Set((q.headers ?? []).map((h) => h.toUpperCase())),
        exclude: q.type === 'header.fields.not',
      });
    default:
      // a bare part number ("1") parsed without a path, or MIME at the top: upstream decides
      return literal({ kind: 'part', section });
  }
}

/** The section as upstream and the response name spell it: "1.2.TEXT", "HEADER.FIELDS (FROM TO)". */
function sectionText(q: FetchQueryItem): string {
  const type = q.type === 'content' ? '' : (q.type ?? '').toUpperCase();
  const base = q.path ? (type ? `${q.path}.${type}` : q.path) : type;
  return q.headers ? `${base} (${q.headers.map((h) => h.toUpperCase()).join(' ')})` : base;
}
