/**
 * Strings (Message-IDs, string sort keys) interned as dense numbers (0, 1, 2, ...) without keeping
 * them: each is known by a 64-bit hash (two 32-bit halves) in an open-addressing table of typed
 * arrays. At a million distinct strings that is about 32 MB, and two share a hash with odds of
 * about 1 in 10^7.
 */
export class InternedStrings {
  private high: Uint32Array;
  private low: Uint32Array;
  /** The number given to the string in each slot, -1 for an empty slot. */
  private numbers: Int32Array;
  /** Strings interned so far: the next one gets this number. */
  size = 0;

  /** Sized for `expected` strings from the start (no table grown and copied on the way). */
  constructor(expected = 512) {
    let slots = 1024;
    while (slots < expected * 2) slots *= 2;
    this.high = new Uint32Array(slots);
    this.low = new Uint32Array(slots);
    this.numbers = new Int32Array(slots).fill(-1);
  }

  /** The number of `value`, given now if it has none yet. */
  intern(value: string): number {
    let high = 0x811c9dc5;
    let low = 0x9747b28c;
    for (let i = 0; i < value.length; i++) {
      const unit = value.charCodeAt(i);
      high = Math.imul(high ^ unit, 0x01000193);
      low = Math.imul(low ^ unit, 0x5bd1e995);
      low ^= low >>> 15;
    }
    high >>>= 0;
    low >>>= 0;
    const mask = this.numbers.length - 1;
    for (let slot = (high ^ low) & mask; ; slot = (slot + 1) & mask) {
      const number = this.numbers[slot] as number;
      if (number < 0) {
        this.high[slot] = high;
        this.low[slot] = low;
        this.numbers[slot] = this.size;
        if (++this.size * 2 > this.numbers.length) this.grow();
        return this.size - 1;
      }
      if (this.high[slot] === high && this.low[slot] === low) return number;
    }
  }

  private grow(): void {
    const { high, low, numbers } = this;
    this.high = new Uint32Array(numbers.length * 2);
    this.low = new Uint32Array(numbers.length * 2);
    this.numbers = new Int32Array(numbers.length * 2).fill(-1);
    const mask = this.numbers.length - 1;
    numbers.forEach((number, i) => {
      if (number < 0) return;
      let slot = ((high[i] as number) ^ (low[i] as number)) & mask;
      while ((this.numbers[slot] as number) >= 0) slot = (slot + 1) & mask;
      this.high[slot] = high[i] as number;
      this.low[slot] = low[i] as number;
      this.numbers[slot] = number;
    });
  }
}
