export type TypedColumn = Float64Array | Uint32Array | Int32Array | Uint16Array | Uint8Array;

/** The column's values at the positions, in a column of the same type. */
export function valuesAt<T extends TypedColumn>(column: T, positions: ArrayLike<number>): T {
  const values = new (column.constructor as new (length: number) => T)(positions.length);
  for (let i = 0; i < positions.length; i++) values[i] = column[positions[i] as number] as number;
  return values;
}
