import type { FolderPath } from '../model/types.js';

/**
 * Clients see "/" as the hierarchy separator (imap-core's NAMESPACE is fixed to it); upstream
 * may use another one. Names that contain "/" on such a server cannot be shown and are skipped.
 */
const CLIENT_DELIMITER = '/';

export function toClientPath(upstreamPath: string, delimiter: string | null | undefined): FolderPath | null {
  if (!delimiter || delimiter === CLIENT_DELIMITER) return upstreamPath;
  const parts = upstreamPath.split(delimiter);
  if (parts.some((part) => part.includes(CLIENT_DELIMITER))) return null;
  return parts.join(CLIENT_DELIMITER);
}

export function toUpstreamPath(path: FolderPath, delimiter: string | null | undefined): string {
  if (!delimiter || delimiter === CLIENT_DELIMITER) return path;
  return path.split(CLIENT_DELIMITER).join(delimiter);
}
