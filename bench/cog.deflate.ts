/**
 * The COG writer's tile compression: Node's asynchronous zlib (libuv's threads) against zlib on the
 * calling thread, the CHM's settings (float predictor, level 1, run-length strategy) on 96 tiles of
 * 256 x 256 heights. Prints wall and process CPU for each, and the event loop's busy time in the
 * asynchronous case (the main thread's share).
 *
 *   npx tsx bench/cog.deflate.ts [--rounds 4]
 */
import { deflate as deflateCb, deflateSync } from 'node:zlib';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { performance as perf } from 'node:perf_hooks';
import { applyPredictor } from '../server/raster/tiff.predictor.ts';
import { CHM_COMPRESSION } from '../server/chm/engine.ts';
import { constants as Z } from 'node:zlib';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '4' } } });
const deflate = promisify(deflateCb);
const opts = { level: CHM_COMPRESSION.deflateLevel, strategy: CHM_COMPRESSION.deflateStrategy === 'rle' ? Z.Z_RLE : Z.Z_DEFAULT_STRATEGY };
// smooth heights with fine structure, rounded to the CHM's quantum, through the float predictor
const tiles = Array.from({ length: 96 }, (_, t) => {
  const f = Float32Array.from({ length: 65536 }, (_, i) => Math.round((Math.sin(i / 300 + t) * 10 + 12 + Math.cos(i * 0.37) * 0.3) / CHM_COMPRESSION.floatQuantum) * CHM_COMPRESSION.floatQuantum);
  const b = new Uint8Array(f.buffer);
  applyPredictor(b, 3, 256, 1, 4);
  return b;
});
const cpuMs = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
console.log('96 tiles of 256 x 256 float32, zlib level %d, %s strategy', opts.level, CHM_COMPRESSION.deflateStrategy);
for (let r = 0; r < Number(values.rounds); r++) {
  let t0 = performance.now(), c0 = cpuMs();
  const e0 = perf.eventLoopUtilization();
  const a = await Promise.all(tiles.map((t) => deflate(t, { ...opts, chunkSize: t.length + 1024 })));
  const busy = perf.eventLoopUtilization(e0).active;
  const asyncLine = `async (libuv): wall ${(performance.now() - t0).toFixed(1)} ms, process CPU ${(cpuMs() - c0).toFixed(1)} ms, event loop busy ${busy.toFixed(1)} ms`;
  t0 = performance.now(); c0 = cpuMs();
  const s = tiles.map((t) => deflateSync(t, { ...opts, chunkSize: t.length + 1024 }));
  const syncLine = `sync (this thread): wall ${(performance.now() - t0).toFixed(1)} ms, process CPU ${(cpuMs() - c0).toFixed(1)} ms`;
  const same = a.every((x, i) => x.equals(s[i]));
  console.log(`round ${r + 1}: ${asyncLine}; ${syncLine}; ${a.reduce((n, x) => n + x.length, 0)} bytes, ${same ? 'identical' : 'DIFFERENT'} streams`);
}
