/**
 * Deterministic randomness for the data generator: a seeded sfc32 stream for sequential draws, stateless integer
 * hashes for "the j-th member of room r" style lookups (so nothing has to be kept in memory), skewed samplers
 * (Zipf, Pareto) and UUIDs derived from (kind, number) or (time, counter).
 */

/** murmur3's finaliser: a bijection on 32-bit integers (distinct inputs give distinct outputs). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A 32-bit hash of a few integers; the same inputs always give the same output. */
export function hash32(a: number, b = 0, c = 0, d = 0): number {
  let h = mix32(a ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(b + 0x7f4a7c15, 0x2545f491));
  h = mix32(h ^ Math.imul(c + 0x165667b1, 0x27d4eb2f));
  return mix32(h ^ Math.imul(d + 0x61c88647, 0x85ebca6b));
}

/** A float in [0, 1) from a hash. */
export const unit = (h: number) => h / 4294967296;

/** sfc32: small, fast, good statistical quality; the state is four 32-bit words. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = hash32(seed, stream, 1);
    this.b = hash32(seed, stream, 2);
    this.c = hash32(seed, stream, 3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uint32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** A rank in [0, n) with P(rank k) roughly proportional to 1 / (k + 1)^s: rank 0 is the most popular. */
  zipf(n: number, s = 1): number {
    return zipfRank(this.float(), n, s);
  }

  /** A Pareto-distributed integer >= min (heavy tail for alpha near 1), capped at max. */
  pareto(min: number, alpha: number, max: number): number {
    return paretoInt(this.float(), min, alpha, max);
  }
}

/**
 * Inverse CDF of the continuous power law on [1, n + 1] with density ∝ x^-s, floored: a Zipf-like rank in
 * [0, n) from one uniform draw (O(1), no tables, any n).
 */
export function zipfRank(u: number, n: number, s: number): number {
  if (n <= 1) return 0;
  let x: number;
  if (Math.abs(s - 1) < 1e-9) x = Math.exp(u * Math.log(n + 1));
  else {
    const e = 1 - s;
    x = Math.pow(u * (Math.pow(n + 1, e) - 1) + 1, 1 / e);
  }
  return Math.min(n - 1, Math.max(0, Math.floor(x) - 1));
}

export function paretoInt(u: number, min: number, alpha: number, max: number): number {
  return Math.min(max, Math.floor(min / Math.pow(1 - u, 1 / alpha)));
}

/**
 * Where the i-th of n events falls in [0, 1) when activity grows linearly to `growth` times its initial rate:
 * the inverse CDF of density ∝ 1 + (growth - 1) x. Monotone in i, so events come out in time order.
 */
export function growthQuantile(i: number, n: number, growth: number, jitter: number): number {
  const f = (i + jitter) / n;
  const g = growth - 1;
  if (g < 1e-9) return f;
  return (-1 + Math.sqrt(1 + 2 * g * f * (1 + g / 2))) / g;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex32 = (w: number) => HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;

/**
 * A version-4-shaped UUID for entity number `n` of `kind`: unique per (kind, n) because the first 32 bits are a
 * bijection of n, and scattered like a random v4 so B-tree inserts behave as in production.
 */
export function entityUuid(seed: number, kind: number, n: number): string {
  const w0 = mix32((n ^ hash32(seed, kind)) >>> 0);
  const w1 = hash32(seed, kind, n, 1);
  const w2 = hash32(seed, kind, n, 2);
  const w3 = hash32(seed, kind, n, 3);
  const s1 = hex32(((w1 & 0xffff0fff) | 0x4000) >>> 0);
  const s2 = hex32(((w2 & 0x3fffffff) | 0x80000000) >>> 0);
  return `${hex32(w0)}-${s1.slice(0, 4)}-${s1.slice(4)}-${s2.slice(0, 4)}-${s2.slice(4)}${hex32(w3)}`;
}

/**
 * A version-7 UUID: 48 bits of Unix milliseconds first, so ids of history rows are time-ordered like those a
 * v7-generating application writes; `counter` (unique per table) in the last 32 bits keeps them unique.
 */
export function timeUuid(seed: number, ms: number, counter: number): string {
  const hi = Math.floor(ms / 65536);
  const lo = ms % 65536;
  const r = hash32(seed, counter, 7);
  const a = hex32(hi >>> 0);
  const b = hex32((((lo << 16) | 0x7000 | (r & 0x0fff)) >>> 0) >>> 0);
  const c = hex32(((0x80000000 | (hash32(seed, counter, 8) & 0x3fffffff)) >>> 0) >>> 0);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${hex32(counter >>> 0)}`;
}
