/**
 * The colour ramp registry: a new ramp is one file in this folder plus one line here. Names follow
 * TiTiler / rio-tiler (lowercase matplotlib names).
 */
import { InvalidInputError } from '../../server/errors.ts';
import { rampLut, type Ramp } from './ramp.ts';
import { cividis } from './cividis.ts';
import { gray } from './gray.ts';
import { greens } from './greens.ts';
import { greys } from './greys.ts';
import { inferno } from './inferno.ts';
import { magma } from './magma.ts';
import { plasma } from './plasma.ts';
import { rdylgn } from './rdylgn.ts';
import { spectral } from './spectral.ts';
import { terrain } from './terrain.ts';
import { viridis } from './viridis.ts';
import { ylgn } from './ylgn.ts';

export type { Ramp } from './ramp.ts';

const ramps: Record<string, Ramp> = { cividis, gray, greens, greys, inferno, magma, plasma, rdylgn, spectral, terrain, viridis, ylgn };
const luts = new Map<string, Uint8Array>();

export function rampNames(): string[] {
  return Object.keys(ramps).sort();
}

/** The ramp by name (case-insensitive); InvalidInputError naming the choices when unknown. */
export function getRamp(name: string): Ramp {
  const ramp = ramps[String(name).toLowerCase()];
  if (!ramp) throw new InvalidInputError(`unknown colormap '${String(name).slice(0, 40)}'; choose one of: ${rampNames().join(', ')}`);
  return ramp;
}

/** The 256-entry RGB lookup table of a ramp, built once. */
export function getRampLut(name: string): Uint8Array {
  const ramp = getRamp(name);
  let lut = luts.get(ramp.name);
  if (!lut) {
    lut = rampLut(ramp);
    luts.set(ramp.name, lut);
  }
  return lut;
}
