/**
 * bench/tiles: map tile rendering against gdal2tiles, cached-tile latency, and overview use.
 *
 *   node --import tsx bench/tiles.ts [--size 4096] [--seconds 20] [--connections 64] [--keep]
 *                                    [--http-only] [--client wrk|autocannon]
 *
 * 1. Generates a seeded RGB GeoTIFF (UTM 10N, 0.1 m, DEFLATE, tiled, internal overviews; GDAL
 *    writes it) and renders its whole pyramid (TileJSON minzoom..maxzoom) through renderTile
 *    (plan, read, resample, colour, PNG), then runs `gdal2tiles.py --xyz --processes=2` over the
 *    same zooms; prints tiles/s for both and the ratio.
 * 2. Starts `forestmap serve` on that raster, warms a set of tiles into the cache and measures
 *    them under load (64 connections, 20 s): p50, p99, errors, req/s. serve's request listener
 *    (createRequestListener) answers those ready tiles before Express; GET /api/health, measured
 *    first, goes through Express and shows what the routing costs. The load comes from wrk
 *    (C, one thread: `wrk -t1 -c64 -d20s --latency` with a Lua script rotating over the cached
 *    tiles) when it is on PATH, else from autocannon (JavaScript, 2 worker threads), which costs
 *    the shared CPUs more and so inflates the figures. --client picks one explicitly. Each
 *    measurement follows an unmeasured 2 s run of the same requests.
 *    --http-only skips 1 and 3 (the pyramid render, gdal2tiles and the cold-tile probe).
 * 3. Times a cold low-zoom tile against high-zoom ones over the raster's centre.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { openRaster } from '../server/raster/source.ts';
import { renderTile } from '../server/raster/tile.render.ts';
import { zoomRange } from '../tiles/tilejson.ts';
import { lonLatToMercator, tileAt, tileRange, type TileXyz } from '../tiles/tile.matrix.set.ts';
import { planFor } from '../server/raster/tile.read.ts';
import { dropBlocks } from '../server/raster/block.cache.ts';
import { Bounds } from '../tiles/bounds.ts';
import { parseTileStyle } from '../tiles/tile.params.ts';

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
// autocannon ships no types: load it untyped and describe the part we read
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '4096' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '64' },
    keep: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '4' },
    'http-only': { type: 'boolean', default: false },
    client: { type: 'string' },
  },
});
const HAS_WRK = spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
const CLIENT = args.client ?? (HAS_WRK ? 'wrk' : 'autocannon');
if (CLIENT !== 'wrk' && CLIENT !== 'autocannon') throw new Error('--client must be wrk or autocannon');
if (CLIENT === 'wrk' && !HAS_WRK) throw new Error('--client wrk: wrk is not on PATH (apt-get install wrk)');

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  /** How the figure was taken, for the printed line. */
  how: string;
}

/** `1.23ms`, `456.00us`, `1.20s`, `2.00m` -> ms */
function wrkMs(v: string): number {
  const m = v.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!m) throw new Error(`wrk: cannot read latency '${v}'`);
  return Number(m[1]) * ({ us: 1e-3, ms: 1, s: 1e3, m: 6e4 } as Record<string, number>)[m[2]];
}

/** wrk, one thread, `connections` connections, GET over `paths` in turn (all when one is given). */
function runWrk(base: string, paths: string[], seconds: number): Promise<LoadResult> {
  const script = join(dir, `wrk-${paths.length}-${Date.now()}.lua`);
  writeFileSync(script, [
    `local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }`,
    'local reqs = {}',
    // formatted in init, once wrk has set the Host header (at load time it has not)
    'init = function() for i, p in ipairs(paths) do reqs[i] = wrk.format("GET", p) end end',
    'local i = 0',
    // each thread has its own Lua state; the first connections start on different tiles
    'request = function() i = i % #reqs + 1; return reqs[i] end',
    '',
  ].join('\n'));
  const argv = ['-t1', `-c${args.connections}`, `-d${seconds}s`, '--latency', '-s', script, base];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out}`));
      const pct = (p: string) => wrkMs(out.match(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm'))?.[1] ?? 'NaNms');
      const total = Number(out.match(/(\d+) requests in/)?.[1]);
      const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
      const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
      const max = out.match(/^\s*Latency\s+\S+\s+\S+\s+(\S+)/m)?.[1];
      resolve({
        requests: total,
        rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
        p50: pct('50'),
        p99: pct('99'),
        max: max ? wrkMs(max) : NaN,
        errors: socketErrors + non2xx,
        how: `wrk ${argv.slice(0, 4).join(' ')} (1 client thread)`,
      });
    });
  });
}

async function runAutocannon(base: string, paths: string[], seconds: number): Promise<LoadResult> {
  const r = await autocannon({
    url: base,
    connections: Number(args.connections),
    duration: seconds,
    workers: 2,
    requests: paths.map((path) => ({ method: 'GET', path })),
  });
  return {
    requests: r.requests.total, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max,
    errors: r.errors + r.timeouts + r.non2xx,
    how: `autocannon ${args.connections} connections ${seconds} s (2 client threads)`,
  };
}

const load = (base: string, paths: string[], seconds: number) => (CLIENT === 'wrk' ? runWrk : runAutocannon)(base, paths, seconds);
const fmt = (r: LoadResult) => `${r.requests} requests, ${r.rps.toFixed(0)} req/s, latency p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms max ${r.max.toFixed(1)} ms, errors ${r.errors}`;
const SIZE = Number(args.size);
const PYTHON = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'fm-bench-tiles-'));
const dataDir = join(dir, 'data');
const tif = join(dataDir, 'bench-ortho.tif');

function sh(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status})`);
}

function makeRaster(): void {
  // seeded texture: smooth "crowns" plus fine noise, written tiled with overviews by GDAL
  sh(PYTHON, ['-c', String.raw`
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(42)
mem = gdal.GetDriverByName('MEM').Create('', n, n, 3, gdal.GDT_Byte)
yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
for b in range(3):
    a = 90 + 60 * np.sin(xx / (37 + 11 * b)) * np.cos(yy / (29 + 7 * b)) + rng.normal(0, 5, (n, n)).astype(np.float32)
    mem.GetRasterBand(b + 1).WriteArray(np.clip(a, 1, 254).astype(np.uint8))
srs = osr.SpatialReference(); srs.ImportFromEPSG(32610)
mem.SetProjection(srs.ExportToWkt()); mem.SetGeoTransform([500000, 0.1, 0, 5000000, 0, -0.1])
gdal.Translate(out, mem, format='COG', creationOptions=['COMPRESS=DEFLATE', 'BLOCKSIZE=256', 'OVERVIEW_RESAMPLING=AVERAGE'])
`, String(SIZE), tif]);
}

function pyramidTiles(wgs: [number, number, number, number], minzoom: number, maxzoom: number): TileXyz[] {
  const [w, s, e, n] = wgs;
  const [x0, y0] = lonLatToMercator(w, s), [x1, y1] = lonLatToMercator(e, n);
  const merc = new Bounds(x0, y0, x1, y1);
  const tiles: TileXyz[] = [];
  for (let z = minzoom; z <= maxzoom; z++) {
    const r = tileRange(merc, z);
    for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) tiles.push({ z, x, y });
  }
  return tiles;
}

function countFiles(root: string, ext: string): number {
  let n = 0;
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    if (statSync(p).isDirectory()) n += countFiles(p, ext);
    else if (name.endsWith(ext)) n++;
  }
  return n;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  sh('mkdir', ['-p', dataDir]);
  let t0 = performance.now();
  makeRaster();
  console.log(`raster: ${SIZE}x${SIZE} RGB uint8, EPSG:32610, 0.1 m, COG DEFLATE 256 px tiles (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const source = await openRaster(tif);
  const m = source.metadata;
  const { minzoom, maxzoom } = zoomRange(m);
  const tiles = pyramidTiles(m.wgs84Bounds, minzoom, maxzoom);
  console.log(`pyramid: zooms ${minzoom}-${maxzoom}, ${tiles.length} tiles; overviews ${m.overviews.map((o) => o.width).join(', ')}`);

  if (!args['http-only']) {
    // 1a. ours: every tile of the pyramid, uncached, one process (a few tiles in flight so PNG
    // encoding on libuv's threads overlaps the next tile's reading and resampling)
    const style = parseTileStyle({});
    const cpu0 = process.cpuUsage();
    t0 = performance.now();
    let drawn = 0, next = 0;
    const worker = async () => {
      while (next < tiles.length) {
        const tile = tiles[next++];
        if (await renderTile(source, { tile, size: 256, format: 'png', style })) drawn++;
      }
    };
    await Promise.all(Array.from({ length: Number(args.concurrency) }, worker));
    const oursS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const oursCpu = (cpu.user + cpu.system) / 1e6;
    const oursRate = tiles.length / oursS;
    console.log(`forestmap renderTile: ${tiles.length} tiles (${drawn} non-empty) in ${oursS.toFixed(1)} s = ${oursRate.toFixed(1)} tiles/s (1 process, ${args.concurrency} in flight; CPU ${oursCpu.toFixed(1)} s = ${(tiles.length / oursCpu).toFixed(1)} tiles per CPU-s)`);

    // 1b. gdal2tiles on the same file and zooms
    const g2t = join(dir, 'gdal2tiles');
    t0 = performance.now();
    // bash's `times` reports the children's CPU time (user, system) after gdal2tiles exits
    const g = spawnSync('bash', ['-c', `gdal2tiles.py --xyz --processes=2 -q -w none -z ${minzoom}-${maxzoom} "$0" "$1" >/dev/null && times`, tif, g2t], { encoding: 'utf8' });
    if (g.status !== 0) throw new Error(`gdal2tiles failed: ${g.stderr}`);
    const gS = (performance.now() - t0) / 1000;
    const childTimes = g.stdout.trim().split('\n').pop()!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
    const gCpu = childTimes ? Number(childTimes[1]) * 60 + Number(childTimes[2]) + Number(childTimes[3]) * 60 + Number(childTimes[4]) : NaN;
    const gTiles = countFiles(g2t, '.png');
    const gRate = gTiles / gS;
    console.log(`gdal2tiles.py --xyz --processes=2: ${gTiles} tiles in ${gS.toFixed(1)} s = ${gRate.toFixed(1)} tiles/s (CPU ${gCpu.toFixed(1)} s = ${(gTiles / gCpu).toFixed(1)} tiles per CPU-s)`);
    console.log(`ratio forestmap / gdal2tiles: ${(oursRate / gRate).toFixed(2)}x tiles/s, ${((tiles.length / oursCpu) / (gTiles / gCpu)).toFixed(2)}x tiles per CPU-s`);

    // 3. low-zoom vs high-zoom tile over the raster's centre, uncached, alternated so load drift
    // hits both alike; the plan shows which level each reads
    const [cw, cs, ce, cn] = m.wgs84Bounds;
    const [cmx, cmy] = lonLatToMercator((cw + ce) / 2, (cs + cn) / 2);
    // maxzoom upsamples the raster (~1.5-2x), so maxzoom-1 is the zoom that reads full resolution ~1:1
    const probes = [tileAt(cmx, cmy, minzoom), tileAt(cmx, cmy, maxzoom - 1), tileAt(cmx, cmy, maxzoom)];
    const times = probes.map(() => [] as number[]);
    for (let i = 0; i < 21; i++) {
      for (let k = 0; k < probes.length; k++) {
        dropBlocks(''); // cold: no decoded TIFF blocks kept from the previous render
        const t = performance.now();
        await renderTile(source, { tile: probes[k], size: 256, format: 'png', style });
        times[k].push(performance.now() - t);
      }
    }
    console.log('cold tile (no tile cache, no decoded blocks) over the raster centre, median of 21 (alternated):');
    probes.forEach((tile, k) => {
      const p = planFor(source, tile)!;
      console.log(`  z${tile.z} ${tile.z}/${tile.x}/${tile.y}: ${median(times[k]).toFixed(1)} ms, reads level ${p.level} (${p.level ? `overview ${source.levelGrid(p.level).width} px wide` : 'full resolution'}), window ${p.window.width}x${p.window.height}`);
    });
  }

  // 2. cached tiles over HTTP under load
  const port = await freePort();
  const server = spawn(process.execPath, ['bin/forestmap.js', 'serve'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, VAR_DIR: join(dir, 'var') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('serving')) resolve(); });
      server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    await (await fetch(`${base}/`)).arrayBuffer(); // the web client builds on first use: let it finish first
    // 64 tiles that hold data (204s would flatter the figures), fetched once to fill the cache
    const withData: TileXyz[] = [];
    for (const t of tiles.filter((t) => t.z >= maxzoom - 1)) {
      if (withData.length >= 64) break;
      const r = await fetch(`${base}/tiles/bench-ortho/${t.z}/${t.x}/${t.y}.png`);
      await r.arrayBuffer();
      if (r.status === 200) withData.push(t);
    }
    // each measurement follows a 2 s unmeasured run of the same requests (JIT, socket buffers)
    await load(base, ['/api/health'], 2);
    const health = await load(base, ['/api/health'], 5);
    console.log(`through Express: GET /api/health, ${health.how}, 5 s: ${fmt(health)}`);
    for (const ext of ['png', 'webp']) {
      const hot = withData.map((t) => `/tiles/bench-ortho/${t.z}/${t.x}/${t.y}.${ext}`);
      let bytes = 0;
      for (const p of hot) bytes += (await (await fetch(base + p)).arrayBuffer()).byteLength;
      for (const p of hot) {
        const r = await fetch(base + p);
        await r.arrayBuffer();
        if (r.headers.get('x-tile-cache') !== 'hit') throw new Error(`${p} not cached`);
      }
      await load(base, hot, 2);
      const result = await load(base, hot, Number(args.seconds));
      console.log(`cached ${ext} tiles (${hot.length} distinct, mean ${(bytes / hot.length / 1024).toFixed(0)} KiB), ${result.how}, ${args.seconds} s: ${fmt(result)}`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await source.close();
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
