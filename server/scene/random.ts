/**
 * Deterministic randomness addressed by position: every random choice in a scene is a pure
 * function of (seed, integer coordinates, salt), so any window of any scene can be rendered
 * without generating what lies before it, and a seed always gives the same forest.
 */

/** A 32-bit integer hash of up to three integers and a seed (lowbias32-style mixing). */
export function hash3(seed: number, a: number, b: number, c = 0): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = mix(h ^ Math.imul(a | 0, 0x85ebca6b));
  h = mix(h ^ Math.imul(b | 0, 0xc2b2ae35));
  h = mix(h ^ Math.imul(c | 0, 0x27d4eb2f));
  return h;
}

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** hash3 mapped to [0, 1). */
export function unit3(seed: number, a: number, b: number, c = 0): number {
  return hash3(seed, a, b, c) / 4294967296;
}

/** A small seeded PRNG (mulberry32) for sequences drawn from one hashed state. */
export function prng(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal from two uniforms (Box-Muller). */
export function gaussian(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

/** Smooth value noise in [0, 1] with unit lattice spacing; `salt` gives independent fields. */
export function valueNoise(seed: number, salt: number, x: number, y: number): number {
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  const fx = x - xi;
  const fy = y - yi;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const v00 = unit3(seed, xi, yi, salt);
  const v10 = unit3(seed, xi + 1, yi, salt);
  const v01 = unit3(seed, xi, yi + 1, salt);
  const v11 = unit3(seed, xi + 1, yi + 1, salt);
  const top = v00 + (v10 - v00) * sx;
  const bottom = v01 + (v11 - v01) * sx;
  return top + (bottom - top) * sy;
}

/** Fractal sum of value noise (octaves halve in scale), normalised to [0, 1]. */
export function fbm(seed: number, salt: number, x: number, y: number, octaves: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < octaves; o++) {
    sum += amp * valueNoise(seed, salt + o * 7919, x * f, y * f);
    norm += amp;
    amp *= 0.5;
    f *= 2.03;
  }
  return sum / norm;
}
