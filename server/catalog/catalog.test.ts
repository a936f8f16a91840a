import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Catalog, type CatalogChange } from './catalog.ts';
import { assertValidId, isInside, slugFromFilename, uniqueId } from './ids.ts';
import { InvalidInputError, LimitExceededError, NotFoundError, UnreadableRasterError } from '../errors.ts';
import { FIXTURES, makeBadFiles, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';

const root = makeFixtureDir('fm-catalog-');
after(() => rmSync(root, { recursive: true, force: true }));

test('ids are safe slugs; paths are checked against their root', () => {
  assert.equal(slugFromFilename('My Ortho (2019).TIF'), 'my-ortho-2019');
  assert.equal(slugFromFilename('../../etc/passwd'), 'passwd');
  assert.equal(slugFromFilename('....tif'), 'raster');
  assert.equal(uniqueId('a', (x) => x === 'a' || x === 'a-2'), 'a-3');
  for (const bad of ['', '..', 'a/b', 'A', '-x', 'x'.repeat(65), 'a b']) assert.throws(() => assertValidId(bad), InvalidInputError, bad);
  assert.ok(isInside('/data', '/data/x.tif'));
  assert.ok(!isInside('/data', '/data/../etc/x.tif'));
  assert.ok(!isInside('/data', '/data'));
  assert.ok(!isInside('/data', '/database/x.tif'));
});

test('register, replace on disk (version + event), upload limits, remove', { skip: pythonGdalMissing }, async () => {
  const dataDir = join(root, 'data'), varDir = join(root, 'var'), scratch = join(root, 'scratch');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(scratch, { recursive: true });
  const fx = makeGeoTiffs(scratch, FIXTURES.filter((f) => f.name.startsWith('u8-rgb-utm33') || f.name.startsWith('f32-chm')));
  const rgb = fx['u8-rgb-utm33-strip-lzw-nodata'], chm = fx['f32-chm-utm11-tiled-lzw-nodata-ovr'];
  copyFileSync(rgb, join(dataDir, 'plot.tif'));
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: 1_000_000, recheckMs: 0 });
  const events: CatalogChange[] = [];
  catalog.on('change', (e) => events.push(e));
  assert.deepEqual(catalog.list().map((e) => e.id), ['plot']);
  assert.throws(() => catalog.get('nope'), NotFoundError);

  // a derived raster written under varDir registers with the role asked for
  mkdirSync(join(varDir, 'chm'), { recursive: true });
  copyFileSync(chm, join(varDir, 'chm', 'plot-chm.tif'));
  const derived = await catalog.register(join(varDir, 'chm', 'plot-chm.tif'), { id: 'plot-chm', role: 'chm', sourceId: 'plot' });
  assert.equal(derived.origin, 'derived');
  assert.equal(derived.sourceId, 'plot');
  assert.equal(events.at(-1)!.type, 'added');

  // the file changes on disk: the next source() notices, refreshes and announces it
  const before = catalog.get('plot').version;
  copyFileSync(chm, join(dataDir, 'plot.tif'));
  utimesSync(join(dataDir, 'plot.tif'), new Date(), new Date(Date.now() + 5000));
  const src = await catalog.source('plot');
  assert.equal(src.metadata.sampleType, 'float32');
  assert.notEqual(catalog.get('plot').version, before);
  assert.deepEqual(events.at(-1)!.type, 'replaced');

  // uploads: too big and invalid ones leave nothing in the uploads folder
  const big = Readable.from([Buffer.alloc(600_000), Buffer.alloc(600_000)]);
  await assert.rejects(catalog.upload(big, 'big.tif'), LimitExceededError);
  const bad = makeBadFiles(scratch, rgb);
  await assert.rejects(catalog.upload(Readable.from([Buffer.from('nope')]), 'x.tif'), UnreadableRasterError);
  await assert.rejects(catalog.upload(Readable.from([readFileSync(bad.truncated)]), 'y.tif'), UnreadableRasterError);
  assert.deepEqual(readdirSync(catalog.uploadsDir), []);
  const up = await catalog.upload(Readable.from([readFileSync(rgb)]), 'Field Ortho.tif');
  assert.equal(up.id, 'field-ortho');
  assert.equal(up.name, 'Field Ortho.tif', 'listed under the name it was uploaded with');
  assert.deepEqual(readdirSync(catalog.uploadsDir).sort(), ['field-ortho.tif', 'field-ortho.upload.json']);
  await catalog.remove('field-ortho');
  assert.deepEqual(readdirSync(catalog.uploadsDir), []);
  // data-folder files are never deleted by remove()
  await catalog.remove('plot');
  assert.ok(readdirSync(dataDir).includes('plot.tif'));

  // a restart finds uploads again under the same id
  await catalog.upload(Readable.from([readFileSync(rgb)]), 'again.tif');
  // a CHM uploaded under an id, or with ?role=chm, under names that do not say "chm"
  // (this CHM is over the first catalog's 1 MB upload limit)
  const roomy = await Catalog.open({ dataDir, varDir, maxUploadBytes: 100_000_000 });
  const byName = await roomy.upload(Readable.from([readFileSync(chm)]), 'site_chm.tif', { id: 'plot1' });
  assert.equal(byName.role, 'chm', 'the uploaded file name decides the inferred role, not the id it is stored under');
  await roomy.upload(Readable.from([readFileSync(chm)]), 'heights.tif', { role: 'chm' });
  const reopened = await Catalog.open({ dataDir, varDir, maxUploadBytes: 1_000_000 });
  assert.equal(reopened.get('again').origin, 'upload');
  // ...keep their role and name across a restart
  assert.deepEqual([reopened.get('plot1').role, reopened.get('plot1').name], ['chm', 'site_chm.tif']);
  assert.deepEqual([reopened.get('heights').role, reopened.get('heights').name], ['chm', 'heights.tif']);
  // an upload replaced under the same id takes the new file's role and name
  await reopened.upload(Readable.from([readFileSync(rgb)]), 'ortho.tif', { id: 'plot1' });
  const again = await Catalog.open({ dataDir, varDir, maxUploadBytes: 1_000_000 });
  assert.deepEqual([again.get('plot1').role, again.get('plot1').name], ['image', 'ortho.tif']);
  // a record that no longer fits its file (a 3-band file under a 'chm' record) falls back to inference
  writeFileSync(join(again.uploadsDir, 'plot1.upload.json'), JSON.stringify({ name: 'x_chm.tif', role: 'chm' }));
  const third = await Catalog.open({ dataDir, varDir, maxUploadBytes: 1_000_000 });
  assert.equal(third.get('plot1').role, 'image');
  await third.remove('heights');
  assert.ok(!readdirSync(third.uploadsDir).some((n) => n.startsWith('heights')), 'remove() deletes the record too');
});
