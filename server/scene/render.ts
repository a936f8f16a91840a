/**
 * Renders one strip of a scene: the true canopy height model (max over crown surfaces, each
 * pixel taking the highest point of every crown over its footprint, so a tree's top pixel holds
 * exactly its height), and the RGB image (ground, tracks, textured and sun-shaded crowns, cast
 * shadows, then mild blur and sensor noise). Pure: the same strip of the same scene always
 * renders the same bytes, whatever was rendered before.
 */
import { fbm, hash3, valueNoise } from './random.ts';
import { distanceToSegments, ROAD_HALF_WIDTH, ROAD_SHOULDER } from './landscape.ts';
import { MAX_HEIGHT, MAX_RADIUS, maxRadius, radiusAtHeight, radiusToward, surfaceAt, treesInBox, type SceneWorld, type Tree } from './trees.ts';

export interface Sun {
  /** Degrees clockwise from north, towards the sun. */
  azimuthDeg: number;
  elevationDeg: number;
}

export interface SceneRaster {
  world: SceneWorld;
  /** Image size in pixels and ground sampling distance (m). */
  width: number;
  height: number;
  gsd: number;
  sun: Sun;
}

export interface RenderedStrip {
  /** Float32 true CHM, width x rows. */
  chm: Float32Array;
  /** Red, green, blue planes, width x rows. */
  rgb: [Uint8Array, Uint8Array, Uint8Array];
  /** Trees whose apex lies in this strip (inside the image), in a fixed order. */
  trees: Tree[];
}

/** Optical depth of a crown along a sun ray crossing it fully: broadleaf crowns are denser. */
const OPACITY = { conifer: 5, broadleaf: 7 };
/** Share of light left in full shadow (skylight). */
const SKYLIGHT = 0.25;
const BLUR = [0.15, 0.7, 0.15];
const NOISE_DN = 2.5;

/** Unit vectors in scene axes (X east, Y south): towards the sun, and across it. */
function sunFrame(sun: Sun) {
  const az = (sun.azimuthDeg * Math.PI) / 180;
  const el = (sun.elevationDeg * Math.PI) / 180;
  const ux = Math.sin(az);
  const uy = -Math.cos(az);
  return { ux, uy, vx: -uy, vy: ux, k: 1 / Math.tan(el), cosE: Math.cos(el), sinE: Math.sin(el) };
}

/** How far (m) beyond a box trees can still reach into it: crowns, and shadows cast back. */
export function influenceMargins(sun: Sun) {
  const f = sunFrame(sun);
  const shadow = MAX_HEIGHT * f.k;
  // Shadows fall away from the sun, so trees on the sun side reach into the box.
  return {
    west: MAX_RADIUS + Math.max(0, -f.ux) * shadow,
    east: MAX_RADIUS + Math.max(0, f.ux) * shadow,
    north: MAX_RADIUS + Math.max(0, -f.uy) * shadow,
    south: MAX_RADIUS + Math.max(0, f.uy) * shadow,
  };
}

/** Columns rendered at once: working memory stays the same whatever the scene's width. */
const BLOCK_COLUMNS = 1024;

/** Renders rows [rowStart, rowStart + rows) at full width, `blockColumns` columns at a time. */
export function renderStrip(scene: SceneRaster, rowStart: number, rows: number, blockColumns = BLOCK_COLUMNS): RenderedStrip {
  const W = scene.width;
  const chm = new Float32Array(W * rows);
  const rgb: [Uint8Array, Uint8Array, Uint8Array] = [new Uint8Array(W * rows), new Uint8Array(W * rows), new Uint8Array(W * rows)];
  const trees: Tree[] = [];
  // Every pixel is a function of its position alone, so blocks join seamlessly.
  for (let c0 = 0; c0 < W; c0 += blockColumns) renderBlock(scene, c0, Math.min(blockColumns, W - c0), rowStart, rows, { chm, rgb, trees });
  return { chm, rgb, trees };
}

function renderBlock(scene: SceneRaster, colStart: number, cols: number, rowStart: number, rows: number, into: RenderedStrip): void {
  const { width: W, gsd: g, world } = scene;
  const { seed, preset, landscape } = world;
  const sf = sunFrame(scene.sun);
  // Render with a one-pixel halo so the blur sees true neighbours at block edges.
  const RW = cols + 2;
  const RH = rows + 2;
  const col0 = colStart - 1;
  const row0 = rowStart - 1;
  const xa = col0 * g, xb = (col0 + RW) * g, ya = row0 * g, yb = (row0 + RH) * g;
  const m = influenceMargins(scene.sun);
  const trees = treesInBox(world, xa - m.west, ya - m.north, xb + m.east, yb + m.south);

  // Pass 1: canopy surface. chm takes each crown's highest point over the pixel footprint;
  // owner is the crown seen at the pixel centre, which the colour pass shades.
  const n = RW * RH;
  const chm = new Float32Array(n);
  const owner = new Int32Array(n).fill(-1);
  const ownerZ = new Float32Array(n);
  const half = g / 2;
  for (let t = 0; t < trees.length; t++) {
    const tr = trees[t];
    const R = maxRadius(tr);
    const cA = Math.max(0, Math.floor((tr.x - R) / g) - col0);
    const cB = Math.min(RW - 1, Math.floor((tr.x + R) / g) - col0);
    const rA = Math.max(0, Math.floor((tr.y - R) / g) - row0);
    const rB = Math.min(RH - 1, Math.floor((tr.y + R) / g) - row0);
    for (let r = rA; r <= rB; r++) {
      const Y = (r + row0 + 0.5) * g;
      const dyc = Y - tr.y;
      const dy = Math.max(0, Math.abs(dyc) - half);
      for (let c = cA; c <= cB; c++) {
        const X = (c + col0 + 0.5) * g;
        const dxc = X - tr.x;
        const dx = Math.max(0, Math.abs(dxc) - half);
        const dn = Math.sqrt(dx * dx + dy * dy);
        if (dn >= R) continue;
        // The pixel's point nearest the stem, in the direction of the pixel: its crown height is
        // the pixel's highest for a crown that falls away from the stem.
        const zMax = surfaceAt(tr, dn, radiusToward(tr, Math.sign(dxc) * dx, Math.sign(dyc) * dy));
        if (zMax < 0) continue;
        const p = r * RW + c;
        if (zMax > chm[p]) chm[p] = zMax;
        const zc = surfaceAt(tr, Math.sqrt(dxc * dxc + dyc * dyc), radiusToward(tr, dxc, dyc));
        if (zc > ownerZ[p]) (ownerZ[p] = zc), (owner[p] = t);
      }
    }
  }

  // Pass 2: cast shadows. A point is shaded by a crown when the ray towards the sun passes
  // through the crown solid; transmission falls with the share of the crown's depth crossed.
  const light = new Float32Array(n).fill(1);
  for (let t = 0; t < trees.length; t++) {
    const tr = trees[t];
    const len = tr.height * sf.k;
    const sx = tr.x - sf.ux * len, sy = tr.y - sf.uy * len;
    const R = maxRadius(tr);
    const cA = Math.max(0, Math.floor((Math.min(tr.x, sx) - R) / g) - col0);
    const cB = Math.min(RW - 1, Math.floor((Math.max(tr.x, sx) + R) / g) - col0);
    const rA = Math.max(0, Math.floor((Math.min(tr.y, sy) - R) / g) - row0);
    const rB = Math.min(RH - 1, Math.floor((Math.max(tr.y, sy) + R) / g) - row0);
    const kappa = tr.conifer ? OPACITY.conifer : OPACITY.broadleaf;
    const depth = tr.height - tr.base;
    for (let r = rA; r <= rB; r++) {
      const qy = (r + row0 + 0.5) * g - tr.y;
      for (let c = cA; c <= cB; c++) {
        const p = r * RW + c;
        if (owner[p] === t) continue; // the crown's own far side is handled by its shading
        const qx = (c + col0 + 0.5) * g - tr.x;
        const b = qx * sf.vx + qy * sf.vy;
        if (b >= R || b <= -R) continue;
        const a = qx * sf.ux + qy * sf.uy;
        const zp = ownerZ[p] > 0 ? ownerZ[p] : 0;
        if (a >= R || a <= -(tr.height - zp) * sf.k - R || zp >= tr.height) continue;
        const crossed = depthCrossed(tr, a, b, zp, sf.k);
        if (crossed > 0) light[p] *= Math.exp((-kappa * crossed) / depth);
      }
    }
  }

  // Pass 3: colour.
  const roads = landscape.roadSegments(xa, ya, xb, yb, ROAD_HALF_WIDTH + ROAD_SHOULDER + 2);
  const planes = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  const sunN = { x: sf.ux * sf.cosE, y: sf.uy * sf.cosE, z: sf.sinE };
  const rgb: [number, number, number] = [0, 0, 0];
  for (let r = 0; r < RH; r++) {
    const Y = (r + row0 + 0.5) * g;
    for (let c = 0; c < RW; c++) {
      const X = (c + col0 + 0.5) * g;
      const p = r * RW + c;
      const t = owner[p];
      if (t >= 0) crownColour(trees[t], X, Y, sunN, rgb);
      else groundColour(seed, preset.ground, landscape.clearing(X, Y), roads, X, Y, rgb);
      // Crowns catch more skylight than the floor beneath them.
      const sky = t >= 0 ? SKYLIGHT + 0.15 : SKYLIGHT;
      const shade = sky + (1 - sky) * light[p];
      // Scene-wide drift in brightness and hue, as between flight lines and soils.
      const drift = 0.94 + 0.12 * valueNoise(seed, 401, X / 500, Y / 500);
      planes[0][p] = rgb[0] * shade * drift;
      planes[1][p] = rgb[1] * shade * drift;
      planes[2][p] = (rgb[2] + (1 - light[p]) * 8) * shade * drift;
    }
  }

  // Pass 4: mild optical blur (separable), then sensor noise; crop the halo.
  const out = into.rgb;
  const tmp = new Float32Array(n);
  for (let band = 0; band < 3; band++) {
    const src = planes[band];
    for (let r = 0; r < RH; r++) {
      const o = r * RW;
      tmp[o] = src[o];
      tmp[o + RW - 1] = src[o + RW - 1];
      for (let c = 1; c < RW - 1; c++) tmp[o + c] = BLUR[0] * src[o + c - 1] + BLUR[1] * src[o + c] + BLUR[2] * src[o + c + 1];
    }
    const dst = out[band];
    for (let r = 0; r < rows; r++) {
      const row = rowStart + r;
      for (let c = 0; c < cols; c++) {
        const p = (r + 1) * RW + c + 1;
        const v = BLUR[0] * tmp[p - RW] + BLUR[1] * tmp[p] + BLUR[2] * tmp[p + RW];
        const h = hash3(seed, colStart + c, row, band + 1);
        const noise = (((h & 0xff) + ((h >>> 8) & 0xff)) / 255 - 1) * NOISE_DN * 1.7;
        const q = Math.round(v + noise);
        dst[r * W + colStart + c] = q < 0 ? 0 : q > 255 ? 255 : q;
      }
    }
  }

  for (let r = 0; r < rows; r++) into.chm.set(chm.subarray((r + 1) * RW + 1, (r + 1) * RW + 1 + cols), r * W + colStart);
  const y0 = rowStart * g, y1 = (rowStart + rows) * g, x0 = colStart * g, x1 = (colStart + cols) * g;
  for (const t of trees) if (t.y >= y0 && t.y < y1 && t.x >= x0 && t.x < x1) into.trees.push(t);
}

/**
 * How much of the crown's height range the sun ray from a point crosses inside the crown solid.
 * The point lies at height zp, at (a, b) from the stem along and across the sun direction; the
 * ray at height z is (a + (z - zp) k, b) from the stem, inside when that is within the crown's
 * radius at z. For a cone and an ellipsoid this is a quadratic inequality in z, solved exactly,
 * so shadows are continuous and as long as the tree is tall.
 */
function depthCrossed(t: Tree, a: number, b: number, zp: number, k: number): number {
  const lo = Math.max(t.base, zp);
  const hi = t.height;
  if (hi <= lo) return 0;
  const e = a - zp * k;
  let A: number, B: number, C: number;
  if (t.conifer) {
    const c = t.radius / (t.height - t.base);
    const c2 = c * c;
    A = k * k - c2;
    B = 2 * e * k + 2 * c2 * t.height;
    C = e * e + b * b - c2 * t.height * t.height;
  } else {
    const az = (t.height - t.base) / 2;
    const zc = t.height - az;
    const g = (t.radius * t.radius) / (az * az);
    A = k * k + g;
    B = 2 * e * k - 2 * g * zc;
    C = e * e + b * b - t.radius * t.radius + g * zc * zc;
  }
  return measureNegative(A, B, C, lo, hi);
}

/** Length of {z in [lo, hi] : A z^2 + B z + C < 0}. */
function measureNegative(A: number, B: number, C: number, lo: number, hi: number): number {
  if (Math.abs(A) < 1e-12) {
    if (Math.abs(B) < 1e-12) return C < 0 ? hi - lo : 0;
    const z0 = -C / B;
    return B > 0 ? clampLen(lo, Math.min(hi, z0)) : clampLen(Math.max(lo, z0), hi);
  }
  const disc = B * B - 4 * A * C;
  if (disc <= 0) return A < 0 ? hi - lo : 0;
  const s = Math.sqrt(disc);
  const r1 = (-B - s) / (2 * A);
  const r2 = (-B + s) / (2 * A);
  const z1 = Math.min(r1, r2);
  const z2 = Math.max(r1, r2);
  if (A > 0) return clampLen(Math.max(lo, z1), Math.min(hi, z2));
  return clampLen(lo, Math.min(hi, z1)) + clampLen(Math.max(lo, z2), hi);
}

function clampLen(a: number, b: number): number {
  return b > a ? b - a : 0;
}

function crownColour(t: Tree, X: number, Y: number, sun: { x: number; y: number; z: number }, out: [number, number, number]): void {
  const dx = X - t.x;
  const dy = Y - t.y;
  const d = Math.sqrt(dx * dx + dy * dy);
  const radius = radiusToward(t, dx, dy);
  const q = Math.min(0.97, d / radius);
  const wx = d > 1e-6 ? dx / d : 0;
  const wy = d > 1e-6 ? dy / d : 0;
  // Surface slope along the radius gives the normal for Lambert shading.
  let slope: number;
  let texture: number;
  if (t.conifer) {
    slope = (t.height - t.base) / radius;
    // Branches: bright sprays radiating from the stem with dark gaps between them, ragged at
    // the crown's edge, plus needle-clump grain.
    const theta = Math.atan2(dy, dx);
    const spoke = valueNoise(0, t.tex, (theta + Math.PI) * 1.9 + t.tex, d * 0.8);
    const ragged = q > 0.55 + 0.45 * spoke ? 0.75 : 1;
    texture = (0.8 + 0.65 * spoke * spoke) * ragged * (0.85 + 0.3 * valueNoise(0, 7, X * 2.5, Y * 2.5));
  } else {
    const a = (t.height - t.base) / 2;
    slope = (a * q) / (radius * Math.sqrt(1 - q * q));
    // Leaf clusters: lumpy foliage at sub-metre scale, darker gaps between clusters.
    const leaf = valueNoise(0, 3, (X + t.tex) / 0.8, Y / 0.8);
    const lobe = valueNoise(0, 5, (X + t.tex) / 2.4, Y / 2.4);
    texture = 0.62 + 0.5 * leaf * leaf + 0.4 * lobe * lobe;
  }
  const nz = 1 / Math.sqrt(1 + slope * slope);
  const nx = slope * wx * nz;
  const ny = slope * wy * nz;
  const lambert = Math.max(0, nx * sun.x + ny * sun.y + nz * sun.z) / sun.z;
  const shade = Math.min(1.5, 0.45 + 0.7 * lambert) * (0.85 + 0.15 * (1 - q * q));
  out[0] = t.rgb[0] * texture * shade;
  out[1] = t.rgb[1] * texture * shade;
  out[2] = t.rgb[2] * texture * shade;
}

const FOREST_GROUND = { litter: [96, 84, 62], moss: [66, 84, 46], grass: [104, 116, 62], shrub: [50, 68, 36], meadow: [122, 132, 74], dryMeadow: [146, 138, 94] };
const DRY_GROUND = { litter: [150, 126, 96], moss: [128, 132, 80], grass: [176, 160, 114], shrub: [84, 96, 56], meadow: [184, 168, 120], dryMeadow: [196, 178, 132] };
const ROAD = [160, 150, 130];

function groundColour(seed: number, kind: 'forest' | 'dry', clearing: number, roads: Float64Array, X: number, Y: number, out: [number, number, number]): void {
  const pal = kind === 'dry' ? DRY_GROUND : FOREST_GROUND;
  const patch = fbm(seed, 501, X / 9, Y / 9, 2);
  const fine = 0.88 + 0.24 * valueNoise(seed, 503, X / 0.7, Y / 0.7);
  // Understory shrubs: scattered round clumps a metre or two across.
  const shrubness = valueNoise(seed, 507, X / 1.6, Y / 1.6) * (0.6 + 0.8 * valueNoise(seed, 508, X / 20, Y / 20));
  const shrub = Math.min(1, Math.max(0, (shrubness - 0.84) * 10)) * (1 - clearing);
  const grassy = Math.min(1, Math.max(0, (patch - 0.35) * 3));
  for (let k = 0; k < 3; k++) {
    const floor = pal.litter[k] + (pal.grass[k] - pal.litter[k]) * grassy;
    const mossy = patch < 0.42 ? pal.moss[k] * 0.6 + floor * 0.4 : floor;
    const under = mossy + (pal.shrub[k] - mossy) * shrub;
    const meadow = pal.meadow[k] + (pal.dryMeadow[k] - pal.meadow[k]) * patch;
    out[k] = (under + (meadow - under) * clearing) * fine;
  }
  if (roads.length) {
    const d = distanceToSegments(roads, X, Y);
    if (d < ROAD_HALF_WIDTH + ROAD_SHOULDER) {
      // Gravel track with darker wheel ruts, blending into the verge.
      const w = d <= ROAD_HALF_WIDTH ? 1 : 1 - (d - ROAD_HALF_WIDTH) / ROAD_SHOULDER;
      const rut = Math.abs(d - 0.9) < 0.25 ? 0.88 : 1;
      const grit = 0.92 + 0.16 * valueNoise(seed, 509, X / 0.4, Y / 0.4);
      for (let k = 0; k < 3; k++) out[k] += (ROAD[k] * rut * grit - out[k]) * w;
    }
  }
}
