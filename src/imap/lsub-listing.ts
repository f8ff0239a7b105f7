/**
 * LSUB's answer from the subscribed folders (RFC 3501 6.3.9), instead of imap-core's listing,
 * which always adds INBOX (subscribed or not) and never lists the unsubscribed parent of a
 * subscribed folder.
 */
export interface LsubEntry {
  path: string;
  flags: string[];
}

/**
 * The subscribed folders the pattern matches, and, for a pattern without `*`, their unsubscribed
 * parents it matches, flagged \Noselect: with `foo/bar` subscribed and `foo` not, `LSUB "" %`
 * answers `foo` (RFC 3501 6.3.9). `matching` returns the paths the pattern matches.
 */
export function lsubListing(subscribed: readonly string[], pattern: string, matching: (paths: string[]) => Set<string>): LsubEntry[] {
  const listed = new Set(subscribed);
  const parents = new Set<string>();
  if (!pattern.includes('*')) {
    for (const path of subscribed) {
      for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
        const parent = path.slice(0, at);
        if (!listed.has(parent)) parents.add(parent);
      }
    }
  }
  const matched = matching([...listed, ...parents]);
  return [
    ...[...listed].filter((path) => matched.has(path)).map((path) => ({ path, flags: [] })),
    ...[...parents].filter((path) => matched.has(path)).map((path) => ({ path, flags: ['\\Noselect'] })),
  ];
}
