import type { FolderPath } from './types.js';

/** INBOX is case-insensitive (RFC 3501 5.1): `inbox/x` and `INBOX/x` are one folder. */
export function normalizePath(path: FolderPath): FolderPath {
  return /^inbox(\/|$)/i.test(path) ? `INBOX${path.slice(5)}` : path;
}
