import type { StringKey } from './message-keys.js';

/** The keys SORT takes (RFC 5256, RFC 5957), as the column each sorts by. */
export const SORT_KEYS: Record<string, Column> = {
  ARRIVAL: 'arrival',
  DATE: 'date',
  SIZE: 'size',
  SUBJECT: 'subject',
  FROM: 'from',
  TO: 'to',
  CC: 'cc',
  DISPLAYFROM: 'displayFrom',
  DISPLAYTO: 'displayTo',
};

export const NUMBER_KEYS = ['arrival', 'date', 'size'] as const;
export type NumberKey = (typeof NUMBER_KEYS)[number];
export type Column = NumberKey | StringKey;

/** One step of a sort program: a column, and whether it is REVERSEd. */
export interface SortStep {
  column: Column;
  reverse: boolean;
}

export const isNumberKey = (column: Column): column is NumberKey => (NUMBER_KEYS as readonly Column[]).includes(column);

/**
 * The positions sorted by the steps, each step's values read from its column (a number, or a
 * string's rank); equal under every step, by position (mailbox order, RFC 5256 BASE.6.4.SORT).
 */
export function sortPositions(positions: Uint32Array, steps: readonly SortStep[], values: (column: Column) => ArrayLike<number>): Uint32Array {
  const columns = steps.map((step) => ({ values: values(step.column), sign: step.reverse ? -1 : 1 }));
  return positions.sort((a, b) => {
    for (const { values: column, sign } of columns) {
      const diff = (column[a] as number) - (column[b] as number);
      if (diff !== 0) return diff * sign;
    }
    return a - b;
  });
}
