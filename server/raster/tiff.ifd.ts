/**
 * TIFF image file directories as bytes, classic or BigTIFF: tags with inline or out-of-line
 * values, and the GeoTIFF tags (transform, GeoKeys) of a grid.
 */
import type { Grid } from './types.ts';

export const TYPE = { ASCII: 2, SHORT: 3, LONG: 4, DOUBLE: 12, LONG8: 16 } as const;
const TYPE_SIZE: Record<number, number> = { 2: 1, 3: 2, 4: 4, 12: 8, 16: 8 };

export interface Tag {
  code: number;
  type: number;
  values: number[] | string;
}

function tagCount(t: Tag): number {
  return typeof t.values === 'string' ? t.values.length + 1 : t.values.length;
}

/** Bytes of an IFD (entries plus out-of-line values, word-aligned) in classic or BigTIFF form. */
export function ifdSize(tags: Tag[], big: boolean): number {
  const inline = big ? 8 : 4;
  let size = big ? 8 + tags.length * 20 + 8 : 2 + tags.length * 12 + 4;
  for (const t of tags) {
    const bytes = tagCount(t) * TYPE_SIZE[t.type];
    if (bytes > inline) size += bytes + (bytes & 1);
  }
  return size;
}

/** Serialise an IFD located at `at`; its out-of-line values follow the entries. */
export function writeIfd(buf: Buffer, at: number, tags: Tag[], nextIfd: number, big: boolean): void {
  const inline = big ? 8 : 4;
  const sorted = [...tags].sort((a, b) => a.code - b.code);
  let pos = at;
  let extra = at + (big ? 8 + sorted.length * 20 + 8 : 2 + sorted.length * 12 + 4);
  if (big) buf.writeBigUInt64LE(BigInt(sorted.length), pos), (pos += 8);
  else buf.writeUInt16LE(sorted.length, pos), (pos += 2);
  for (const t of sorted) {
    const count = tagCount(t);
    const bytes = count * TYPE_SIZE[t.type];
    buf.writeUInt16LE(t.code, pos);
    buf.writeUInt16LE(t.type, pos + 2);
    if (big) buf.writeBigUInt64LE(BigInt(count), pos + 4);
    else buf.writeUInt32LE(count, pos + 4);
    const valuePos = pos + (big ? 12 : 8);
    let target = valuePos;
    if (bytes > inline) {
      if (big) buf.writeBigUInt64LE(BigInt(extra), valuePos);
      else buf.writeUInt32LE(extra, valuePos);
      target = extra;
      extra += bytes + (bytes & 1);
    }
    writeValues(buf, target, t);
    pos += big ? 20 : 12;
  }
  if (big) buf.writeBigUInt64LE(BigInt(nextIfd), pos);
  else buf.writeUInt32LE(nextIfd, pos);
}

function writeValues(buf: Buffer, at: number, t: Tag): void {
  if (typeof t.values === 'string') {
    buf.write(t.values, at, 'latin1');
    buf[at + t.values.length] = 0;
    return;
  }
  const size = TYPE_SIZE[t.type];
  t.values.forEach((v, i) => {
    const o = at + i * size;
    if (t.type === TYPE.SHORT) buf.writeUInt16LE(v, o);
    else if (t.type === TYPE.LONG) buf.writeUInt32LE(v, o);
    else if (t.type === TYPE.LONG8) buf.writeBigUInt64LE(BigInt(v), o);
    else if (t.type === TYPE.DOUBLE) buf.writeDoubleLE(v, o);
  });
}

/** GDAL writes NaN nodata as "nan" and integers without a decimal point. */
export function formatNodata(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

export function geoTags(grid: Grid): Tag[] {
  const t = grid.transform;
  const tags: Tag[] = [];
  if (t[2] === 0 && t[4] === 0) {
    tags.push({ code: 33550, type: TYPE.DOUBLE, values: [t[1], -t[5], 0] });
    tags.push({ code: 33922, type: TYPE.DOUBLE, values: [0, 0, 0, t[0], t[3], 0] });
  } else {
    tags.push({ code: 34264, type: TYPE.DOUBLE, values: [t[1], t[2], 0, t[0], t[4], t[5], 0, t[3], 0, 0, 0, 0, 0, 0, 0, 1] });
  }
  // GeoKeyDirectory: header (version 1.1.0), then (key, location 0 = inline, count 1, value).
  const keys: Array<[number, number]> = [];
  const geographic = grid.crs.units === 'degree';
  const epsg = grid.crs.epsg;
  const user = epsg === null ? grid.crs.geoKeys : undefined;
  keys.push([1025, 1]); // GTRasterTypeGeoKey: PixelIsArea
  if (user) keys.push(...user.shorts.filter(([k]) => k !== 1025));
  else {
    keys.push([1024, epsg === null ? 32767 : geographic ? 2 : 1]); // GTModelTypeGeoKey
    if (epsg !== null) keys.push([geographic ? 2048 : 3072, epsg]); // Geographic/ProjectedCSTypeGeoKey
  }
  // a user-defined CRS's parameters and citations: in GeoDoubleParamsTag and GeoAsciiParamsTag
  // (each citation ends in '|'), which its keys index
  const doubles = user?.doubles ?? [];
  let ascii = '';
  const entries: Array<[number, number, number, number]> = [
    ...keys.map(([k, v]): [number, number, number, number] => [k, 0, 1, v]),
    ...doubles.map(([k], i): [number, number, number, number] => [k, 34736, 1, i]),
    ...(user?.asciis ?? []).map(([k, text]): [number, number, number, number] => {
      const at = ascii.length;
      ascii += `${text.replace(/[^\x20-\x7e]/g, '?')}|`;
      return [k, 34737, ascii.length - at, at];
    }),
  ].sort((a, b) => a[0] - b[0]);
  const dir = [1, 1, 0, entries.length];
  for (const [k, location, count, v] of entries) dir.push(k, location, count, v);
  tags.push({ code: 34735, type: TYPE.SHORT, values: dir });
  if (doubles.length) tags.push({ code: 34736, type: TYPE.DOUBLE, values: doubles.map(([, v]) => v) });
  if (ascii) tags.push({ code: 34737, type: TYPE.ASCII, values: ascii });
  return tags;
}
