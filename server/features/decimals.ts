/** `v` to `digits` decimals (Math.round's halves up), for figures shown to people and written to JSON. */
export function roundTo(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
