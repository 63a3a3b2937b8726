// A latency histogram in microseconds with log-linear buckets (HDR style): values below 2^SUB_BITS
// are exact, above that each power of two is split into 2^(SUB_BITS-1) buckets, so every value is
// kept to within 1/64 (~1.6 %) of itself. Recording is an array increment, so a load generator can
// record every message; histograms from several processes merge by adding counts.

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 exact values
const HALF = SUB >> 1; // 64 buckets per power of two above that
/** Values up to 2^31 µs (~ 35 minutes); anything longer lands in the last bucket. */
const BUCKETS = SUB + (31 - SUB_BITS) * HALF;

function indexOf(us: number): number {
  if (us < SUB) return us < 0 ? 0 : us | 0;
  if (us >= 2 ** 31) return BUCKETS - 1;
  const v = Math.floor(us);
  const msb = 31 - Math.clz32(v); // >= SUB_BITS
  const shift = msb - (SUB_BITS - 1);
  return SUB + (shift - 1) * HALF + ((v >>> shift) - HALF);
}

/** The highest value that falls into bucket `i` (a percentile reports the bucket's upper bound). */
function upperOf(i: number): number {
  if (i < SUB) return i;
  const shift = Math.floor((i - SUB) / HALF) + 1;
  const mantissa = ((i - SUB) % HALF) + HALF;
  return ((mantissa + 1) << shift) - 1;
}

/** Sparse form for IPC: [bucket, count] pairs. */
export type HistogramData = Array<[number, number]>;

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  private sum = 0;

  record(us: number): void {
    this.counts[indexOf(us)]++;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The value at percentile p (0..100), in µs; 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(upperOf(i), this.max);
    }
    return this.max;
  }

  toData(): { buckets: HistogramData; max: number; sum: number } {
    const buckets: HistogramData = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { buckets, max: this.max, sum: this.sum };
  }

  merge(data: { buckets: HistogramData; max: number; sum: number }): void {
    for (const [i, n] of data.buckets) {
      this.counts[i] += n;
      this.count += n;
    }
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }
}
