/**
 * Synthetic CHMs with known trees, for tests and benches: each tree a paraboloid-topped cone
 * (height h, crown radius r) on bare ground; the CHM is the highest crown at each pixel, so every
 * tree's top, height and crown footprint are known exactly. Deterministic per seed.
 */
import type { Affine, Crs, RasterImage } from '../raster/types.ts';
import { prng as rng } from '../scene/random.ts';

/** The scenes' seeded PRNG (mulberry32): one implementation for every synthetic fixture. */
export { rng };

export interface SyntheticTree { x: number; y: number; height: number; radius: number }

export interface SyntheticForest {
  image: RasterImage;
  trees: SyntheticTree[];
  /** Index of the tree owning each pixel (highest crown), -1 for ground. */
  owner: Int32Array;
}

const UTM_17N: Crs = { epsg: 32617, proj4: '+proj=utm +zone=17 +datum=WGS84 +units=m +no_defs +type=crs', name: 'WGS 84 / UTM zone 17N', units: 'm' };

/**
 * `width` x `height` pixels of `res` metres; trees placed with a minimum spacing (Poisson-disc by
 * dart throwing) so each has a distinct top. Origin at (x0, y0) top-left, UTM 17N.
 */
export function syntheticForest(opts: {
  width: number; height: number; res?: number; seed?: number; density?: number;
  minHeight?: number; maxHeight?: number; x0?: number; y0?: number;
}): SyntheticForest {
  const { width, height } = opts;
  const res = opts.res ?? 1;
  const rand = rng(opts.seed ?? 1);
  const areaM2 = width * height * res * res;
  const target = Math.round(areaM2 * (opts.density ?? 0.01));
  const hMin = opts.minHeight ?? 8, hMax = opts.maxHeight ?? 30;
  const trees: SyntheticTree[] = [];
  const cell = 4;
  const buckets = new Map<string, SyntheticTree[]>();
  for (let tries = 0; trees.length < target && tries < target * 30; tries++) {
    const h = hMin + (hMax - hMin) * rand();
    const r = 1.5 + 0.12 * h + rand();
    const t: SyntheticTree = { x: rand() * width * res, y: rand() * height * res, height: h, radius: r };
    const bx = Math.floor(t.x / cell), by = Math.floor(t.y / cell);
    let ok = true;
    for (let dy = -3; dy <= 3 && ok; dy++) for (let dx = -3; dx <= 3 && ok; dx++) {
      for (const o of buckets.get(`${bx + dx},${by + dy}`) ?? []) {
        if (Math.hypot(o.x - t.x, o.y - t.y) < 0.8 * Math.max(o.radius, t.radius) + 1) { ok = false; break; }
      }
    }
    if (!ok) continue;
    trees.push(t);
    const key = `${bx},${by}`;
    (buckets.get(key) ?? buckets.set(key, []).get(key)!).push(t);
  }
  const chm = new Float32Array(width * height);
  const owner = new Int32Array(width * height).fill(-1);
  trees.forEach((t, k) => {
    const px0 = Math.max(0, Math.floor((t.x - t.radius) / res)), px1 = Math.min(width - 1, Math.ceil((t.x + t.radius) / res));
    const py0 = Math.max(0, Math.floor((t.y - t.radius) / res)), py1 = Math.min(height - 1, Math.ceil((t.y + t.radius) / res));
    for (let py = py0; py <= py1; py++) {
      for (let px = px0; px <= px1; px++) {
        const d = Math.hypot((px + 0.5) * res - t.x, (py + 0.5) * res - t.y) / t.radius;
        if (d > 1) continue;
        // rounded cone: crown surface from the top down to 40% of the height at the edge
        const z = t.height * (1 - 0.6 * Math.pow(d, 1.5));
        const i = py * width + px;
        if (z > chm[i]) { chm[i] = z; owner[i] = k; }
      }
    }
  });
  const x0 = opts.x0 ?? 400000, y0 = opts.y0 ?? 3280000;
  const transform: Affine = [x0, res, 0, y0, 0, -res];
  return { image: { grid: { width, height, transform, crs: UTM_17N }, bands: [chm], mask: null }, trees, owner };
}
