/**
 * Parsing a tile request's path and query into typed values once (titiler's dependencies):
 * everything invalid is an InvalidInputError naming the parameter.
 */
import { InvalidInputError } from '../server/errors.ts';
import { getRamp } from './ramps/index.ts';
import { isValidTile, type TileXyz } from './tile.matrix.set.ts';
import type { TileFormat } from './encode.ts';

export interface TileRequest {
  tile: TileXyz;
  size: 256 | 512;
  format: TileFormat;
}

export interface TileStyleParams {
  /** Explicit rescale per band, or null for the raster's default. */
  rescale: Array<[number, number]> | null;
  colormap: string | null;
  resampling: 'nearest' | 'bilinear';
  /** 0-based band indices (query `bidx` is 1-based, as TiTiler's), or null for the default. */
  bands: number[] | null;
}

const FILE = /^(\d{1,10})(@2x)?\.(png|webp)$/;

export function parseTilePath(z: string, x: string, file: string): TileRequest {
  const m = FILE.exec(file);
  if (!m || !/^\d{1,2}$/.test(z) || !/^\d{1,10}$/.test(x)) throw new InvalidInputError(`invalid tile path '${z}/${x}/${file}': expected {z}/{x}/{y}[@2x].png|webp`);
  const tile = { z: Number(z), x: Number(x), y: Number(m[1]) };
  if (!isValidTile(tile)) throw new InvalidInputError(`tile ${tile.z}/${tile.x}/${tile.y} does not exist (zoom 0-30, x and y below 2^z)`);
  return { tile, size: m[2] ? 512 : 256, format: m[3] as TileFormat };
}

function one(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) {
    if (name === 'rescale') return v.map(String).join(';');
    throw new InvalidInputError(`'${name}' given more than once`);
  }
  if (typeof v !== 'string') throw new InvalidInputError(`'${name}' must be a plain value`);
  return v;
}

export function parseTileStyle(query: Record<string, unknown>): TileStyleParams {
  const rescaleText = one(query, 'rescale');
  let rescale: Array<[number, number]> | null = null;
  if (rescaleText !== undefined) {
    // TiTiler repeats `rescale=min,max` per band; we also accept ';' between bands
    rescale = rescaleText.split(';').map((part) => {
      const nums = part.split(',').map((s) => Number(s.trim()));
      if (nums.length !== 2 || !nums.every(Number.isFinite) || !(nums[1] > nums[0])) {
        throw new InvalidInputError(`rescale must be 'min,max' with min < max, got '${part.slice(0, 40)}'`);
      }
      return [nums[0], nums[1]] as [number, number];
    });
    if (rescale.length > 16) throw new InvalidInputError('too many rescale ranges');
  }
  const cm = one(query, 'colormap') ?? one(query, 'colormap_name');
  const colormap = cm === undefined || cm === '' ? null : getRamp(cm).name;
  const rs = one(query, 'resampling') ?? 'bilinear';
  if (rs !== 'nearest' && rs !== 'bilinear') throw new InvalidInputError(`resampling must be 'nearest' or 'bilinear', got '${rs.slice(0, 20)}'`);
  const bidx = one(query, 'bidx');
  let bands: number[] | null = null;
  if (bidx !== undefined) {
    bands = bidx.split(',').map((s) => Number(s));
    if (!bands.length || bands.length > 4 || !bands.every((b) => Number.isInteger(b) && b >= 1 && b <= 256)) {
      throw new InvalidInputError(`bidx must be 1 to 4 comma-separated 1-based band numbers, got '${bidx.slice(0, 40)}'`);
    }
    bands = bands.map((b) => b - 1);
  }
  return { rescale, colormap, resampling: rs, bands };
}

/** A short, path-safe fingerprint of the style, for cache keys and ETags. */
export function styleKey(style: TileStyleParams): string {
  const text = JSON.stringify([style.rescale, style.colormap, style.resampling, style.bands]);
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0).toString(36);
}
