/** A colour ramp: stops [t in 0..1, r, g, b], ascending in t; colours between stops are linear. */
export interface Ramp {
  name: string;
  stops: ReadonlyArray<readonly [number, number, number, number]>;
}

/** 256-entry RGB lookup table (768 bytes) for a ramp. */
export function rampLut(ramp: Ramp): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  const s = ramp.stops;
  let k = 0;
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    while (k < s.length - 2 && t > s[k + 1][0]) k++;
    const [t0, r0, g0, b0] = s[k];
    const [t1, r1, g1, b1] = s[Math.min(k + 1, s.length - 1)];
    const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
    lut[i * 3] = Math.round(r0 + f * (r1 - r0));
    lut[i * 3 + 1] = Math.round(g0 + f * (g1 - g0));
    lut[i * 3 + 2] = Math.round(b0 + f * (b1 - b0));
  }
  return lut;
}
