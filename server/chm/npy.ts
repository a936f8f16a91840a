import { readFileSync } from 'node:fs';

/**
 * Minimal reader for little-endian float32/float64/uint8 .npy files (the HRCH fixtures), C order.
 * Test and bench support only: the product never reads .npy.
 */
export interface NpyArray {
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array;
}

export function readNpy(path: string): NpyArray {
  const buf = readFileSync(path);
  if (buf.readUInt32BE(0) !== 0x934e554d || buf[4] !== 0x50 || buf[5] !== 0x59) throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12);
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran) throw new Error(`${path}: Fortran order not supported`);
  const offset = start + headerLen;
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + count * ({ '<f4': 4, '<f8': 8, '|u1': 1 }[descr ?? ''] ?? 0));
  switch (descr) {
    case '<f4': return { shape, data: new Float32Array(bytes) };
    case '<f8': return { shape, data: new Float64Array(bytes) };
    case '|u1': return { shape, data: new Uint8Array(bytes) };
    default: throw new Error(`${path}: unsupported dtype ${descr}`);
  }
}
