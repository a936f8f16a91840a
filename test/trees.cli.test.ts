import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { writeCogImage } from '../server/raster/cog.writer.ts';
import { syntheticForest } from '../server/trees/synthetic.ts';
import { detectTrees } from '../server/trees/detect.ts';

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/forestmap.js', ...args], { encoding: 'utf8' });

/** A synthetic forest's CHM written as chm.tif in a fresh folder, removed after `use`. */
async function withForestChm(size: { width: number; height: number; seed: number }, use: (dir: string, chm: string, forest: ReturnType<typeof syntheticForest>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'trees-cli-'));
  try {
    const forest = syntheticForest(size);
    const chm = join(dir, 'chm.tif');
    await writeCogImage(chm, forest.image, { sampleType: 'float32' });
    await use(dir, chm, forest);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('forestmap trees: a CHM GeoTIFF in, tops and crowns GeoJSON out, same trees as detectTrees', async () => {
  await withForestChm({ width: 150, height: 120, seed: 9 }, async (dir, chm, f) => {
    const r = cli(['trees', '--chm', chm, '--out', join(dir, 't.geojson'), '--crowns', join(dir, 'c.geojson'), '--algorithm', 'watershed', '--ws', '0.07*h+3', '--tile', '64']);
    assert.equal(r.status, 0, r.stderr);
    const tops = JSON.parse(await readFile(join(dir, 't.geojson'), 'utf8'));
    const crowns = JSON.parse(await readFile(join(dir, 'c.geojson'), 'utf8'));
    const expected = detectTrees(f.image, { algorithm: 'watershed', ws: (h) => 0.07 * h + 3 });
    assert.equal(tops.features.length, expected.trees.length);
    assert.deepEqual(tops.features.map((x: any) => x.id).sort((a: number, b: number) => a - b), expected.trees.map((t) => t.id));
    assert.equal(crowns.features.length, expected.crowns.filter(Boolean).length);
    assert.match(r.stdout, new RegExp(`${expected.trees.length} trees`));
  });
});

test('forestmap trees/chm: bad flags are usage errors (exit 2), unsafe --ws is refused', async () => {
  for (const args of [['trees'], ['trees', '--chm', 'x.tif'], ['trees', '--chm', 'x.tif', '--out', 'y', '--ws', 'process.exit()'],
    ['trees', '--chm', 'x.tif', '--out', 'y', '--algorithm', 'magic'], ['trees', '--chm', 'x.tif', '--out', 'y', '--hmin', '-1'],
    ['chm'], ['chm', '--points', 'x.laz', '--out', 'y.tif', '--crs', 'WGS84'], ['chm', '--points', 'x.laz', '--out', 'y.tif', '--res', '0']]) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.length > 10);
  }
  const missing = cli(['trees', '--chm', '/nonexistent.tif', '--out', '/tmp/x.geojson']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file/);
});

test('forestmap trees/chm: an output in a folder that does not exist, or naming a folder, is refused before any work and nothing is written', async () => {
  await withForestChm({ width: 60, height: 50, seed: 3 }, async (dir, chm) => {
    const noFolder = cli(['trees', '--chm', chm, '--out', join(dir, 't.geojson'), '--crowns', join(dir, 'no', 'c.geojson')]);
    assert.equal(noFolder.status, 2, noFolder.stderr);
    assert.match(noFolder.stderr, new RegExp(`^forestmap trees: --crowns .*c\\.geojson: there is no folder .*no\n`));
    assert.deepEqual((await readdir(dir)).sort(), ['chm.tif'], 'not even the tops file, nor a temporary');
    const isFolder = cli(['trees', '--chm', chm, '--out', dir]);
    assert.equal(isFolder.status, 2);
    assert.match(isFolder.stderr, /--out .* is a folder: name the file to write in it/);
    const chmOut = cli(['chm', '--points', join(dir, 'absent.laz'), '--out', join(dir, 'no', 'chm.tif')]);
    assert.equal(chmOut.status, 2, 'the output is checked before the input is read');
    assert.match(chmOut.stderr, /--out .*chm\.tif: there is no folder/);
    // and a run that succeeds leaves only its outputs
    const ok = cli(['trees', '--chm', chm, '--out', join(dir, 't.geojson'), '--crowns', join(dir, 'c.geojson')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual((await readdir(dir)).sort(), ['c.geojson', 'chm.tif', 't.geojson']);
  });
});

test('forestmap trees: Ctrl-C stops between tiles, exits 1 saying so, and leaves neither output nor temporary', async () => {
  await withForestChm({ width: 1500, height: 1500, seed: 5 }, async (dir, chm) => {
    // tiles of 32 px: thousands of them, so the run is still going when the interrupt comes
    const child = spawn(process.execPath, ['bin/forestmap.js', 'trees', '--chm', chm, '--out', join(dir, 't.geojson'), '--crowns', join(dir, 'c.geojson'), '--tile', '32'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    // the temporaries appear once detection has started
    let started = false;
    for (const end = Date.now() + 60_000; !started && child.exitCode === null && Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
      started = (await readdir(dir)).some((n) => /^t\.geojson\.\d+\.tmp$/.test(n));
    }
    assert.ok(started, `detection started: ${stderr}`);
    child.kill('SIGINT');
    assert.equal(await closed, 1, stderr);
    assert.match(stderr, /^forestmap trees: cancelled: .*t\.geojson and .*c\.geojson not written\n$/);
    assert.deepEqual(await readdir(dir), ['chm.tif']);
  });
});

const laz = '../shared/data/lidar/MixedConifer.laz';
test('forestmap chm from a LAZ, then trees: lidR MixedConifer figures', { skip: existsSync(laz) ? false : `${laz} not found (../shared/data missing)` }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'chm-cli-'));
  try {
    const chm = join(dir, 'mc.tif');
    const r = cli(['chm', '--points', laz, '--out', chm, '--res', '1', '--subcircle', '0.15']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /92x92 cells/);
    const t5 = cli(['trees', '--chm', chm, '--out', join(dir, 'a.geojson'), '--ws', '5']);
    const tv = cli(['trees', '--chm', chm, '--out', join(dir, 'b.geojson'), '--ws', '0.07*h+3']);
    const n5 = Number(/^(\d+) trees/.exec(t5.stdout)?.[1]), nv = Number(/^(\d+) trees/.exec(tv.stdout)?.[1]);
    assert.ok(Math.abs(n5 - 167) / 167 <= 0.03, `ws 5: ${n5}`);
    assert.ok(Math.abs(nv - 204) / 204 <= 0.03, `ws 0.07h+3: ${nv}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const neon = '../shared/data/neon';
test('forestmap eval-crowns scores the NEON plots with hand-drawn crowns and prints precision and recall', { skip: existsSync(`${neon}/SJER_052.xml`) ? false : `${neon} not found (../shared/data missing)` }, () => {
  const r = cli(['eval-crowns', '--data', neon, '--algorithm', 'silva']);
  assert.equal(r.status, 0, r.stderr);
  const m = /mean over (\d+) plot\(s\), silva: precision ([\d.]+), recall ([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]) >= 1);
  // the published Silva 2016 scores on the full benchmark are 0.34 / 0.47; SJER_052 is one plot
  assert.ok(Number(m[2]) > 0.2 && Number(m[3]) > 0.4, r.stdout);
});

const nz = '../shared/data/nz';
test('forestmap trees refuses a DSM or DTM (elevations) with how to make a CHM, and takes the CHM beside them', { skip: existsSync(`${nz}/DSM.tif`) ? false : `${nz} not found (../shared/data missing)` }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fm-nz-'));
  try {
    for (const f of ['DSM.tif', 'DTM.tif']) {
      const r = spawnSync(process.execPath, ['bin/forestmap.js', 'trees', '--chm', `${nz}/${f}`, '--out', join(dir, 'trees.geojson')], { encoding: 'utf8' });
      assert.equal(r.status, 1, `${f}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${f}: 99% of its values are above 4\\d\\d(\\.\\d+)? m, .* gdal_calc\\.py -A DSM\\.tif -B DTM\\.tif --calc="A-B" --outfile CHM\\.tif`));
    }
    const chm = spawnSync(process.execPath, ['bin/forestmap.js', 'trees', '--chm', `${nz}/CHM.tif`, '--out', join(dir, 'trees.geojson')], { encoding: 'utf8' });
    assert.equal(chm.status, 0, chm.stderr);
    assert.ok(JSON.parse(await readFile(join(dir, 'trees.geojson'), 'utf8')).features.length > 100);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
