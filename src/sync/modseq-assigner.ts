/**
 * The mod-sequences one set of changes to a folder gets (RFC 7162, in the proxy's own numbering).
 * The proxy keeps a counter per folder generation (the HIGHESTMODSEQ its clients see); each
 * change it takes on gets a modseq above the counter, and upstream's own where that is higher,
 * so where upstream has CONDSTORE the two stay level and where it has none the counter alone
 * counts. Expunges, which carry no modseq upstream, get the lowest of the set. All changes of
 * one set may share a modseq (as Dovecot's changes of one transaction do).
 */
export class ModseqAssigner {
  /** The lowest modseq of this set: above everything clients were told before. */
  readonly base: number;
  private top: number;

  constructor(counter: number) {
    this.base = counter + 1;
    this.top = counter;
  }

  /** The modseq of a change upstream reported at `upstream` ("0" or absent: upstream has no CONDSTORE). */
  next(upstream?: string): number {
    const modseq = Math.max(this.base, Number(upstream ?? 0));
    this.top = Math.max(this.top, modseq);
    return modseq;
  }

  /** The modseq of the set's expunges. */
  expunged(): number {
    this.top = Math.max(this.top, this.base);
    return this.base;
  }

  /** The counter after the set; `upstreamHighest` (upstream's HIGHESTMODSEQ) keeps it level with upstream's. */
  counter(upstreamHighest = 0): number {
    return Math.max(this.top, upstreamHighest);
  }
}
