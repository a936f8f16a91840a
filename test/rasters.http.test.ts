import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../server/catalog/catalog.ts';
import { createRequestListener } from '../server/http/app.ts';
import type { AppContext } from '../server/http/context.ts';
import { loadConfig } from '../server/config.ts';
import { decodeToRgba } from '../tiles/encode.ts';
import { getRampLut } from '../tiles/ramps/index.ts';
import { lonLatToMercator, tileAt, tileBounds } from '../tiles/tile.matrix.set.ts';
import { mercatorToLonLat } from '../tiles/tile.matrix.set.ts';
import { FIXTURES, makeBadFiles, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from './fixtures/geotiffs.ts';

const skip = pythonGdalMissing;
const root = makeFixtureDir('fm-rasters-http-');
const dataDir = join(root, 'data');
const varDir = join(root, 'var');
const scratch = join(root, 'scratch');
let server: Server;
let base = '';
let ctx: AppContext;
let fx: Record<string, string> = {};
let bad: Record<string, string> = {};
const MAX_UPLOAD = 3 * 1024 * 1024;

before(async () => {
  if (skip) return;
  mkdirSync(join(dataDir, 'sub'), { recursive: true });
  mkdirSync(scratch, { recursive: true });
  fx = makeGeoTiffs(scratch, FIXTURES.filter((f) => ['u8-rgb-utm33-strip-lzw-nodata', 'f32-chm-utm11-tiled-lzw-nodata-ovr', 'u8-rgba-3857-tiled-deflate-ovr', 'u16-rgb-2193-planar-tiled-none'].includes(f.name)));
  copyFileSync(fx['u8-rgb-utm33-strip-lzw-nodata'], join(dataDir, 'Ortho Plot (2019).tif'));
  copyFileSync(fx['f32-chm-utm11-tiled-lzw-nodata-ovr'], join(dataDir, 'sub', 'plot_CHM.tif'));
  copyFileSync(fx['u8-rgba-3857-tiled-deflate-ovr'], join(dataDir, 'rgba.tif'));
  bad = makeBadFiles(scratch, fx['u8-rgb-utm33-strip-lzw-nodata']);
  copyFileSync(bad.truncated, join(dataDir, 'broken.tif'));
  // a TIFF without GeoKeys, georeferenced by the world file and .prj beside it
  mkdirSync(join(dataDir, 'world'));
  copyFileSync(bad.noGeo, join(dataDir, 'world', 'scan.tif'));
  writeFileSync(join(dataDir, 'world', 'scan.tfw'), '0.5\n0\n0\n-0.5\n560000.25\n4899999.75\n');
  writeFileSync(join(dataDir, 'world', 'scan.prj'), 'PROJCS["WGS_1984_UTM_Zone_10N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-123.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]');
  const config = { ...loadConfig({}), dataDir, varDir, demo: false, maxUploadBytes: MAX_UPLOAD };
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: MAX_UPLOAD });
  ctx = { config, catalog };
  server = createServer(await createRequestListener(ctx)); // as `forestmap serve`: ready tiles before Express
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  if (server) await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

async function json(path: string, init?: RequestInit) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

async function tile(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { headers });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, buf };
}

function upload(path: string, file: string, query = '') {
  return json(`/api/rasters?filename=${encodeURIComponent(path)}${query}`, { method: 'POST', body: readFileSync(file), headers: { 'content-type': 'application/octet-stream' } });
}

/** A tile well inside a raster at zoom z. */
function innerTile(b: [number, number, number, number], z: number, fx = 0.4, fy = 0.6) {
  const [mx, my] = lonLatToMercator(b[0] + fx * (b[2] - b[0]), b[1] + fy * (b[3] - b[1]));
  return tileAt(mx, my, z);
}

test('the catalog lists the data folder (sub-folders too) with full metadata; a broken file is skipped', { skip }, async () => {
  const { status, body } = await json('/api/rasters');
  assert.equal(status, 200);
  const ids = body.rasters.map((r: any) => r.id).sort();
  assert.deepEqual(ids, ['ortho-plot-2019', 'plot_chm', 'rgba', 'scan']);
  const chm = body.rasters.find((r: any) => r.id === 'plot_chm');
  assert.equal(chm.role, 'chm');
  assert.equal(chm.crs.epsg, 32611);
  assert.match(chm.crs.proj4, /\+proj=utm \+zone=11/);
  assert.equal(chm.sampleType, 'float32');
  assert.equal(chm.nodata, -9999);
  assert.equal(chm.layout, 'tiled');
  assert.deepEqual(chm.overviews.map((o: any) => o.width), [260, 130, 65]);
  assert.equal(chm.gsd, 0.5);
  assert.equal(chm.wgs84Bounds.length, 4);
  assert.ok(chm.wgs84Bounds[0] < chm.wgs84Bounds[2] && chm.wgs84Bounds[1] < chm.wgs84Bounds[3]);
  const rgba = body.rasters.find((r: any) => r.id === 'rgba');
  assert.equal(rgba.hasAlpha, true);
  assert.equal(rgba.bandCount, 3);
  assert.equal(ctx.catalog.skipped.length, 1);
  assert.match(ctx.catalog.skipped[0].error, /truncated/);
  // the list says which data-folder file is missing from it and why, without the server's paths
  assert.equal(body.skipped.length, 1);
  assert.equal(body.skipped[0].file, 'broken.tif');
  assert.match(body.skipped[0].reason, /^broken\.tif: .*truncated/);
  assert.ok(!JSON.stringify(body.skipped).includes(dataDir), 'no absolute path of the server');
  const one = await json('/api/rasters/ortho-plot-2019');
  assert.equal(one.status, 200);
  assert.equal(one.body.name, 'Ortho Plot (2019).tif');
  assert.equal(one.body.compression, 'lzw');
});

test('unknown and malicious ids are 4xx JSON, never a file outside the catalog', { skip }, async () => {
  for (const id of ['nosuch', '..%2F..%2Fetc%2Fpasswd', '..%252F..', '%2E%2E%2Fx', 'UPPER', 'a%00b', '%2Fetc%2Fpasswd']) {
    for (const path of [`/api/rasters/${id}`, `/tiles/${id}/1/0/0.png`, `/tiles/${id}/tilejson.json`, `/api/rasters/${id}/point?lon=0&lat=0`]) {
      const r = await fetch(base + path);
      const text = await r.text();
      assert.ok(r.status === 404 || r.status === 400, `${path} -> ${r.status}`);
      assert.equal(typeof JSON.parse(text).error, 'string', `${path}: ${text.slice(0, 80)}`);
    }
  }
  await assert.rejects(ctx.catalog.register('/etc/hostname'), /inside the data folder/);
  await assert.rejects(ctx.catalog.register(join(dataDir, '..', 'scratch', 'corrupt.tif')), /inside the data folder/);
});

test('tiles: PNG and WebP, 256 and @2x, 204 outside, nodata and alpha transparent, TileJSON', { skip }, async () => {
  const meta = (await json('/api/rasters/ortho-plot-2019')).body;
  const tj = (await json('/tiles/ortho-plot-2019/tilejson.json?resampling=nearest')).body;
  assert.equal(tj.tilejson, '3.0.0');
  assert.deepEqual(tj.bounds, meta.wgs84Bounds);
  assert.ok(tj.minzoom <= tj.maxzoom && tj.maxzoom === 19, `zooms ${tj.minzoom}-${tj.maxzoom}`);
  assert.match(tj.tiles[0], /\/tiles\/ortho-plot-2019\/\{z\}\/\{x\}\/\{y\}\.png\?resampling=nearest$/);
  const t = innerTile(meta.wgs84Bounds, 19);
  const png = await tile(`/tiles/ortho-plot-2019/${t.z}/${t.x}/${t.y}.png`);
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-type'), 'image/png');
  const img = await decodeToRgba(png.buf);
  assert.deepEqual([img.width, img.height], [256, 256]);
  let opaque = 0, clear = 0;
  for (let i = 3; i < img.rgba.length; i += 4) (img.rgba[i] === 255 ? opaque++ : clear++);
  assert.ok(opaque > 1000, `opaque ${opaque}`);
  const retina = await tile(`/tiles/ortho-plot-2019/${t.z}/${t.x}/${t.y}@2x.webp`);
  assert.equal(retina.headers.get('content-type'), 'image/webp');
  assert.equal((await decodeToRgba(retina.buf)).width, 512);
  const [mx, my] = lonLatToMercator(10, -50);
  const far = tileAt(mx, my, 15);
  assert.equal((await tile(`/tiles/ortho-plot-2019/${far.z}/${far.x}/${far.y}.png`)).status, 204);
  assert.equal((await tile('/tiles/ortho-plot-2019/40/0/0.png')).status, 400);
  assert.equal((await tile('/tiles/ortho-plot-2019/3/1/2@3x.png')).status, 400);
  assert.equal((await tile(`/tiles/ortho-plot-2019/${t.z}/${t.x}/${t.y}.png?colormap=nope`)).status, 400);
  // the nodata block (bottom-right fifth of the fixture) renders transparent
  const nd = innerTile(meta.wgs84Bounds, 19, 0.95, 0.05);
  const ndImg = await decodeToRgba((await tile(`/tiles/ortho-plot-2019/${nd.z}/${nd.x}/${nd.y}.png`)).buf);
  const ndb = tileBounds(nd);
  let transparentInside = 0;
  for (let r = 0; r < 256; r += 8) for (let c = 0; c < 256; c += 8) {
    const [lon, lat] = mercatorToLonLat(ndb.minX + (c + 0.5) * (ndb.width / 256), ndb.maxY - (r + 0.5) * (ndb.height / 256));
    const p = (await json(`/api/rasters/ortho-plot-2019/point?lon=${lon}&lat=${lat}`)).body;
    if (p.inside && p.values[0] === null && p.pixel[0] % 1 === 0) {
      if (ndImg.rgba[(r * 256 + c) * 4 + 3] === 0) transparentInside++;
      else assert.fail(`nodata pixel ${p.pixel} drawn opaque`);
    }
  }
  assert.ok(transparentInside > 0, 'sampled some nodata pixels');
  // alpha band: the fixture's top-left quarter is alpha 0
  const rm = (await json('/api/rasters/rgba')).body;
  const at = innerTile(rm.wgs84Bounds, 19, 0.05, 0.95);
  const aImg = await decodeToRgba((await tile(`/tiles/rgba/${at.z}/${at.x}/${at.y}.png`)).buf);
  assert.ok(aImg.rgba.some((v, i) => i % 4 === 3 && v === 0), 'alpha=0 area is transparent');
});

test('single-band tiles use rescale + colormap: a pixel is the ramp colour of its value', { skip }, async () => {
  const meta = (await json('/api/rasters/plot_chm')).body;
  const t = innerTile(meta.wgs84Bounds, 21, 0.3, 0.5);
  const res = await tile(`/tiles/plot_chm/${t.z}/${t.x}/${t.y}.png?rescale=0,35&colormap=magma&resampling=nearest`);
  const img = await decodeToRgba(res.buf);
  const lut = getRampLut('magma');
  const b = tileBounds(t);
  let checked = 0;
  for (const [c, r] of [[10, 10], [128, 128], [200, 60], [60, 220]]) {
    const [lon, lat] = mercatorToLonLat(b.minX + (c + 0.5) * (b.width / 256), b.maxY - (r + 0.5) * (b.height / 256));
    const p = (await json(`/api/rasters/plot_chm/point?lon=${lon}&lat=${lat}`)).body;
    if (!p.inside || p.values[0] === null) continue;
    const k = Math.max(0, Math.min(255, Math.round((p.values[0] / 35) * 255)));
    const o = (r * 256 + c) * 4;
    assert.deepEqual([...img.rgba.subarray(o, o + 3)], [...lut.subarray(k * 3, k * 3 + 3)], `pixel ${c},${r} value ${p.values[0]}`);
    checked++;
  }
  assert.ok(checked >= 3, `checked ${checked} pixels`);
  // the CHM role defaults to viridis: same tile without a colormap differs from gray
  const def = await decodeToRgba((await tile(`/tiles/plot_chm/${t.z}/${t.x}/${t.y}.png`)).buf);
  const o = (128 * 256 + 128) * 4;
  assert.ok(!(def.rgba[o] === def.rgba[o + 1] && def.rgba[o + 1] === def.rgba[o + 2]), 'default CHM tile is coloured');
});

test('rendered tiles are cached (hit, ETag 304)', { skip }, async () => {
  const meta = (await json('/api/rasters/rgba')).body;
  const t = innerTile(meta.wgs84Bounds, 18);
  const path = `/tiles/rgba/${t.z}/${t.x}/${t.y}.png`;
  const first = await tile(path);
  const second = await tile(path);
  assert.equal(second.headers.get('x-tile-cache'), 'hit');
  assert.deepEqual(second.buf, first.buf);
  const etag = first.headers.get('etag')!;
  assert.equal((await tile(path, { 'if-none-match': etag })).status, 304);
  assert.ok(readdirSync(join(varDir, 'tiles', 'rgba')).length > 0, 'tiles on disk');
});

test('a repeated tile is answered from memory: same bytes and headers, 304, 204 kept, a bad style still 400', { skip }, async () => {
  const meta = (await json('/api/rasters/rgba')).body;
  const t = innerTile(meta.wgs84Bounds, 18, 0.3, 0.3);
  const path = `/tiles/rgba/${t.z}/${t.x}/${t.y}.webp?resampling=nearest`;
  const first = await tile(path);
  assert.equal(first.status, 200);
  const names = ['etag', 'cache-control', 'content-crs', 'content-bbox', 'content-type', 'content-length'];
  for (let i = 0; i < 3; i++) {
    const again = await tile(path);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-tile-cache'), 'hit');
    assert.match(again.headers.get('server-timing')!, /^cache;dur=\d+\.\d$/);
    for (const n of names) assert.equal(again.headers.get(n), first.headers.get(n), n);
    assert.deepEqual(again.buf, first.buf);
  }
  const etag = first.headers.get('etag')!;
  const nm = await tile(path, { 'if-none-match': etag });
  assert.equal(nm.status, 304);
  assert.equal(nm.headers.get('etag'), etag);
  assert.equal(nm.headers.get('cache-control'), first.headers.get('cache-control'));
  assert.equal((await tile(path, { 'if-none-match': '"other"' })).status, 200);
  const far = tileAt(...lonLatToMercator(meta.wgs84Bounds[2] + 1, meta.wgs84Bounds[3] + 1), 18);
  const empty = `/tiles/rgba/${far.z}/${far.x}/${far.y}.png`;
  assert.equal((await tile(empty)).status, 204);
  const emptyAgain = await tile(empty);
  assert.equal(emptyAgain.status, 204);
  assert.equal(emptyAgain.headers.get('x-tile-cache'), 'hit');
  assert.equal(emptyAgain.buf.length, 0);
  assert.equal((await tile(`/tiles/rgba/${t.z}/${t.x}/${t.y}.webp?resampling=nope`)).status, 400);
});

test('a raster replaced on disk behind the catalog\'s back is noticed by cached tiles (after recheckMs)', { skip }, async () => {
  const up = await upload('disk.tif', fx['u8-rgb-utm33-strip-lzw-nodata'], '&id=disk');
  assert.equal(up.status, 201);
  const t = innerTile(up.body.wgs84Bounds, 19);
  const path = `/tiles/disk/${t.z}/${t.x}/${t.y}.png`;
  const before = await tile(path);
  assert.equal(before.status, 200);
  assert.equal((await tile(path)).headers.get('x-tile-cache'), 'hit');
  // same grid, other pixels: a copy with every byte of the image data changed is overkill; any
  // other valid raster will do, the version (size + mtime) is what changes
  copyFileSync(fx['u8-rgba-3857-tiled-deflate-ovr'], join(varDir, 'uploads', 'disk.tif'));
  await new Promise((r) => setTimeout(r, 1100)); // the catalog trusts its last check for recheckMs (1 s)
  const after = await tile(path);
  assert.notEqual(after.headers.get('x-tile-cache'), 'hit');
  assert.notEqual(after.headers.get('etag'), before.headers.get('etag'));
  assert.equal((await json('/api/rasters/disk', { method: 'DELETE' })).status, 200);
  assert.equal((await tile(path)).status, 404);
});

test('a raster georeferenced by a world file is served: metadata, tiles (cached under its version), point values', { skip }, async () => {
  const { body } = await json('/api/rasters/scan');
  assert.deepEqual([body.georeferencing, body.crs.epsg, body.transform], ['world-file', 32610, [560000, 0.5, 0, 4900000, 0, -0.5]]);
  // its version names the sidecars too, and still makes a tile cache path
  assert.match(body.version, /_/);
  const t = innerTile(body.wgs84Bounds, 22);
  const path = `/tiles/scan/${t.z}/${t.x}/${t.y}.png`;
  assert.equal((await tile(path)).status, 200);
  assert.equal((await tile(path)).headers.get('x-tile-cache'), 'hit');
  const p = await json(`/api/rasters/scan/point?lon=${(body.wgs84Bounds[0] + body.wgs84Bounds[2]) / 2}&lat=${(body.wgs84Bounds[1] + body.wgs84Bounds[3]) / 2}`);
  assert.equal(p.status, 200);
  assert.equal(p.body.inside, true);
});

test('point query: values, null for nodata, inside=false outside, 400 for bad coordinates', { skip }, async () => {
  const meta = (await json('/api/rasters/plot_chm')).body;
  const [w, s, e, n] = meta.wgs84Bounds;
  const inside = (await json(`/api/rasters/plot_chm/point?lon=${w + 0.3 * (e - w)}&lat=${s + 0.7 * (n - s)}`)).body;
  assert.equal(inside.inside, true);
  assert.equal(typeof inside.values[0], 'number');
  const nodata = (await json(`/api/rasters/plot_chm/point?lon=${w + 0.97 * (e - w)}&lat=${s + 0.03 * (n - s)}`)).body;
  assert.deepEqual(nodata.values, [null]);
  const outside = (await json('/api/rasters/plot_chm/point?lon=0&lat=0')).body;
  assert.equal(outside.inside, false);
  for (const q of ['lon=a&lat=1', 'lon=200&lat=1', 'lat=1', 'lon=1&lat=1&lat=2']) {
    assert.equal((await json(`/api/rasters/plot_chm/point?${q}`)).status, 400, q);
  }
});

test('uploads: raw and multipart are registered; bad files are 422 with the reason; too big is 413; nothing is left behind', { skip }, async () => {
  const raw = await upload('My Upload.tif', fx['u16-rgb-2193-planar-tiled-none']);
  assert.equal(raw.status, 201, JSON.stringify(raw.body));
  assert.equal(raw.body.id, 'my-upload');
  assert.equal(raw.body.crs.epsg, 2193);
  assert.equal(raw.body.sampleType, 'uint16');
  assert.equal((await json('/api/rasters/my-upload')).status, 200);

  const form = new FormData();
  form.append('file', new Blob([readFileSync(fx['f32-chm-utm11-tiled-lzw-nodata-ovr'])]), 'form_chm.tif');
  const multi = await json('/api/rasters?role=chm', { method: 'POST', body: form });
  assert.equal(multi.status, 201, JSON.stringify(multi.body));
  assert.equal(multi.body.id, 'form_chm');
  assert.equal(multi.body.role, 'chm');

  const expectations: Array<[string, RegExp]> = [
    [bad.notTiff, /not a TIFF/], [bad.corrupt, /corrupt|not a TIFF/], [bad.truncated, /truncated/], [bad.absurd, /absurd/],
    [bad.noGeo, /not georeferenced\); give a GeoTIFF, or put the TIFF in the data folder with its world file \(\.tfw\) and \.prj beside it/], [bad.userCrs, /user-defined CRS/],
  ];
  for (const [file, why] of expectations) {
    const r = await upload('bad.tif', file);
    assert.equal(r.status, 422, `${file}: ${r.status}`);
    assert.match(r.body.error, why);
    assert.match(r.body.error, /^bad\.tif: /, 'the reason names the uploaded file, not the spool file');
  }
  // a JPEG orthophoto: named as one, with the conversion written for the name it was uploaded as
  const jpeg = join(scratch, 'ortho.jpg');
  writeFileSync(jpeg, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1]));
  const jpg = await upload('ortho.jpg', jpeg);
  assert.equal(jpg.status, 422);
  assert.equal(jpg.body.error, 'ortho.jpg: not a TIFF file: it is a JPEG image: convert it to a GeoTIFF with gdal_translate -of COG ortho.jpg ortho.tif (GDAL takes its georeferencing from a world file and .prj beside it)');
  const big = join(scratch, 'big.bin');
  writeFileSync(big, Buffer.alloc(MAX_UPLOAD + 200_000, 1));
  assert.equal((await upload("big.tif", big)).status, 413, "declared too big");
  // a declared size over the limit is refused at once, without waiting for a body that never comes
  const declaredOnly = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = httpRequest(`${base}/api/rasters?filename=huge.tif`, { method: 'POST', headers: { 'content-length': String(10 * 1024 ** 3) } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s to a request whose declared size is over the limit')));
    req.flushHeaders();
  });
  assert.deepEqual(declaredOnly, { status: 413, connection: 'close' });
  // streamed without a declared length: the limit still holds
  const chunks = async function* () { for (let i = 0; i < 40; i++) yield new Uint8Array(100_000); };
  const streamed = await fetch(`${base}/api/rasters?filename=s.tif`, { method: 'POST', body: (ReadableStream as any).from(chunks()), duplex: 'half' } as RequestInit);
  assert.equal(streamed.status, 413);
  // an RGB image asked to be a CHM: refused before it is kept, and before it replaces an upload
  const asChm = await upload('rgb.tif', fx['u16-rgb-2193-planar-tiled-none'], '&role=chm');
  assert.equal(asChm.status, 400);
  assert.match(asChm.body.error, /^rgb\.tif has 3 bands; a CHM \(role 'chm'\) is one band of heights/);
  const kept = (await json('/api/rasters/form_chm')).body.version;
  const replacing = await upload('rgb.tif', fx['u16-rgb-2193-planar-tiled-none'], '&role=chm&id=form_chm');
  assert.equal(replacing.status, 400);
  assert.equal((await json('/api/rasters/form_chm')).body.version, kept, 'the CHM it would have replaced is untouched');
  // each upload with its record of name and role (catalog.ts: UPLOAD_INFO_EXT), nothing else left behind
  assert.deepEqual(readdirSync(join(varDir, 'uploads')).sort(), ['form_chm.tif', 'form_chm.upload.json', 'my-upload.tif', 'my-upload.upload.json']);
  assert.equal((await json('/api/health')).status, 200, 'server keeps serving');
  assert.equal((await json('/api/rasters?id=../x', { method: 'POST', body: 'x' })).status, 400);
  assert.equal((await json('/api/rasters?id=rgba&filename=x.tif', { method: 'POST', body: readFileSync(fx['u16-rgb-2193-planar-tiled-none']) })).status, 409, 'data-folder rasters are not replaceable by upload');
});

test('replacing an upload changes its version, fires the change event and invalidates its tiles; delete removes it', { skip }, async () => {
  const first = await upload('swap.tif', fx['u8-rgb-utm33-strip-lzw-nodata'], '&id=swap');
  assert.equal(first.status, 201);
  const t = innerTile(first.body.wgs84Bounds, 19);
  const path = `/tiles/swap/${t.z}/${t.x}/${t.y}.png`;
  const before = await tile(path);
  assert.equal(before.status, 200);
  assert.equal((await tile(path)).headers.get('x-tile-cache'), 'hit');
  const events: string[] = [];
  ctx.catalog.on('change', (e) => { if (e.entry.id === 'swap') events.push(e.type); });
  // same place, different pixels: the RGBA fixture warped onto the first one's grid is not needed;
  // any valid raster under the same id must replace it
  const second = await upload('swap.tif', fx['f32-chm-utm11-tiled-lzw-nodata-ovr'], '&id=swap');
  assert.equal(second.status, 201);
  assert.notEqual(second.body.version, first.body.version);
  assert.deepEqual(events, ['replaced']);
  const after = await tile(path);
  assert.notEqual(after.headers.get('x-tile-cache'), 'hit');
  assert.ok(after.status === 204 || !after.buf.equals(before.buf), 'the new raster is drawn, not the old tile');
  assert.equal((await json('/api/rasters/swap', { method: 'DELETE' })).status, 200);
  assert.equal((await json('/api/rasters/swap')).status, 404);
  assert.ok(!readdirSync(join(varDir, 'uploads')).includes('swap.tif'));
  assert.deepEqual(events, ['replaced', 'removed']);
});

test('colour ramps: list, stops with values, legend PNG', { skip }, async () => {
  const list = (await json('/api/colormaps')).body.colormaps;
  for (const n of ['viridis', 'magma', 'greens', 'terrain', 'gray']) assert.ok(list.includes(n));
  const stops = (await json('/api/colormaps/viridis?rescale=0,30')).body;
  assert.equal(stops.stops[0].value, 0);
  assert.equal(stops.stops[stops.stops.length - 1].value, 30);
  const legend = await tile('/api/colormaps/greens/legend.png?width=100&height=10');
  const img = await decodeToRgba(legend.buf);
  assert.deepEqual([img.width, img.height], [100, 10]);
  const lut = getRampLut('greens');
  assert.deepEqual([...img.rgba.subarray(0, 3)], [...lut.subarray(0, 3)]);
  assert.deepEqual([...img.rgba.subarray(99 * 4, 99 * 4 + 3)], [...lut.subarray(765, 768)]);
  assert.equal((await json('/api/colormaps/nope/legend.png')).status, 400);
});
