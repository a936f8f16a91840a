/**
 * The web map in headless Chromium against the real server over a generated 400 x 400 px scene:
 * a clean, offline page; imagery, canopy height and trees drawn where the truth says; a click on a
 * tree shows its height; a drawn rectangle runs a job to completion with a histogram and a
 * downloadable GeoJSON of the right size.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launchBrowser, openPage, startServer, waitForMapIdle, type PageWatch, type RunningServer } from './harness.ts';
import { makeScene, metresBetween, openGround, readTruthTrees, tallTree, type TruthTree } from './scene.fixture.ts';
import { mapPixel, waitForTrees, type Rgb } from './page.helpers.ts';

type Bbox = [number, number, number, number];

describe('web map (headless Chromium)', { skip: chromiumMissing, timeout: 240_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let watch: PageWatch;
  let page: Page;
  let truth: TruthTree[];
  let bbox: Bbox;
  let imageId: string;
  let chmId: string;
  let sceneImage = '';

  before(async () => {
    let sceneTrees = '';
    server = await startServer(async (dataDir) => {
      const files = await makeScene(dataDir, { width: 400, height: 400, gsd: 0.5, seed: 11 });
      // a file the catalog cannot read: the page says so instead of leaving it silently out
      writeFileSync(join(dataDir, 'notes.tif'), 'field notes, not a raster\n');
      sceneTrees = files.trees;
      sceneImage = files.rgb;
    });
    truth = readTruthTrees(sceneTrees);
    const rasters = (await (await fetch(`${server.url}/api/rasters`)).json()) as any;
    const list: any[] = Array.isArray(rasters) ? rasters : rasters.rasters;
    const chm = list.find((r) => r.role === 'chm');
    const image = list.find((r) => r.role !== 'chm');
    assert.ok(chm && image, `the scene registers an image and a CHM: ${JSON.stringify(list.map((r) => [r.id, r.role]))}`);
    imageId = image.id;
    chmId = chm.id;
    bbox = (image.wgs84Bounds ?? image.bounds?.wgs84) as Bbox;
    await waitForTrees(server.url, chmId, 120_000);
    browser = await launchBrowser();
    watch = await openPage(browser, server.url);
    page = watch.page;
    await page.goto(`${server.url}/`);
    await waitForMapIdle(page);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page loads with no console errors and asks nothing of other hosts', async () => {
    assert.equal(await page.locator('#raster-select').inputValue(), imageId);
    assert.equal(await page.locator('#raster-skipped summary').textContent(), '1 file in the data folder could not be read');
    await page.locator('#raster-skipped summary').click();
    assert.equal(await page.locator('#raster-skipped li').textContent(), 'notes.tif: not a TIFF file: it does not start with a TIFF header');
    await page.locator('#raster-skipped summary').click();
    assert.deepEqual(watch.consoleErrors, []);
    assert.deepEqual(watch.foreignRequests, []);
  });

  test('every control is labelled and reachable by keyboard; at tablet width the controls sit below the map', async () => {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#panel input, #panel select, #panel button')]
      .filter((e) => !(e.getAttribute('aria-label') || (e as HTMLInputElement).labels?.length || (e.tagName === 'BUTTON' && e.textContent?.trim())))
      .map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(unlabelled, []);
    // the trees checkbox toggles from the keyboard
    await page.locator('#layer-trees-visible').focus();
    await page.keyboard.press('Space');
    assert.equal(await page.evaluate(() => (window as any).forestmap.map.getLayoutProperty('tree-tops', 'visibility')), 'none');
    await page.keyboard.press('Space');
    assert.equal(await page.evaluate(() => (window as any).forestmap.map.getLayoutProperty('tree-tops', 'visibility')), 'visible');

    await page.setViewportSize({ width: 820, height: 1180 });
    const map = (await page.locator('#map').boundingBox())!;
    const panel = (await page.locator('#panel').boundingBox())!;
    assert.ok(panel.y >= map.y + map.height - 1 && map.width >= 800, `map ${JSON.stringify(map)}, panel ${JSON.stringify(panel)}`);
    await page.setViewportSize({ width: 1280, height: 800 });
    await waitForMapIdle(page);
  });

  /** Shows exactly the named layers, through the layer panel's checkboxes. */
  async function showOnly(keys: string[]) {
    for (const key of ['imagery', 'canopy', 'trees', 'region']) {
      const box = page.locator(`#layer-${key}-visible`);
      if (await box.isDisabled()) continue;
      if (keys.includes(key)) await box.check();
      else await box.uncheck();
    }
    await waitForMapIdle(page);
  }

  async function zoomTo(lon: number, lat: number, zoom: number) {
    await page.evaluate(([lon, lat, zoom]) => (window as any).forestmap.map.jumpTo({ center: [lon, lat], zoom }), [lon, lat, zoom]);
    await waitForMapIdle(page);
  }

  function distance(a: Rgb, b: Rgb): number {
    return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
  }

  test('imagery, canopy height and tree layers draw where the scene has trees and open ground', async () => {
    const tree = tallTree(truth, bbox);
    const ground = openGround(truth, bbox);
    assert.ok(ground.clearance > 2, `the scene has open ground (clearance ${ground.clearance.toFixed(1)} m)`);
    await zoomTo((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, 18);

    await showOnly(['imagery']);
    const background: Rgb = [0xdf, 0xe5, 0xdf];
    const imgTree = await mapPixel(page, tree.lon, tree.lat);
    const imgGround = await mapPixel(page, ground.lon, ground.lat);
    assert.ok(distance(imgTree, background) > 30 && distance(imgGround, background) > 30, `imagery drawn: ${imgTree} ${imgGround}`);
    assert.ok(distance(imgTree, imgGround) > 20, `a tree crown and open ground look different: ${imgTree} vs ${imgGround}`);

    await showOnly(['canopy']);
    await page.locator('#layer-canopy-opacity').fill('100');
    await waitForMapIdle(page);
    const chmTree = await mapPixel(page, tree.lon, tree.lat);
    const chmGround = await mapPixel(page, ground.lon, ground.lat);
    // viridis: 0 m is dark violet (68,1,84); a tall tree is green to yellow
    assert.ok(chmGround[1] < 80 && chmGround[2] > chmGround[1], `open ground is low canopy (violet): ${chmGround}`);
    assert.ok(chmTree[1] > 120, `a ${tree.height.toFixed(1)} m tree is high canopy (green/yellow): ${chmTree}`);

    await showOnly(['trees']);
    const topPixel = await mapPixel(page, tree.lon, tree.lat);
    const groundPixel = await mapPixel(page, ground.lon, ground.lat);
    assert.ok(distance(topPixel, background) > 40, `a tree top circle is drawn at the tall tree: ${topPixel}`);
    assert.ok(distance(groundPixel, background) < 10, `nothing is drawn on open ground: ${groundPixel}`);
    await showOnly(['imagery', 'canopy', 'trees', 'region']);
    assert.deepEqual(watch.consoleErrors, []);
  });

  test('clicking a tree shows its height', async () => {
    const tree = tallTree(truth, bbox);
    await zoomTo(tree.lon, tree.lat, 19);
    const apiTrees = (await (await fetch(`${server.url}/api/rasters/${chmId}/trees?geometry=point&bbox=${[tree.lon - 1e-4, tree.lat - 1e-4, tree.lon + 1e-4, tree.lat + 1e-4].join(',')}`)).json()) as any;
    const nearest = (apiTrees.features as any[])
      .map((f) => ({ f, d: metresBetween(f.geometry.coordinates[0], f.geometry.coordinates[1], tree.lon, tree.lat) }))
      .sort((a, b) => a.d - b.d)[0];
    assert.ok(nearest && nearest.d < tree.radius, 'the detector found the tall tree');
    const [lon, lat] = nearest.f.geometry.coordinates;
    const pt = await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [lon, lat]);
    await page.mouse.click(pt.x, pt.y);
    const popup = page.locator('.tree-popup .tree-height');
    await popup.waitFor({ timeout: 10_000 });
    const shown = Number((await popup.textContent())!.replace(/[^\d.]/g, ''));
    assert.ok(Math.abs(shown - nearest.f.properties.height_m) < 0.06, `popup ${shown} m vs tree ${nearest.f.properties.height_m} m`);
    assert.ok(Math.abs(shown - tree.height) < 1.5, `popup ${shown} m vs true height ${tree.height} m`);
    await page.locator('.maplibregl-popup-close-button').click();

    // hovering reads the canopy height under the pointer from the CHM
    await page.mouse.move(pt.x + 2, pt.y + 1);
    await page.waitForFunction(() => /Canopy height: [\d.]+ m/.test(document.getElementById('hover-readout')?.textContent ?? ''), undefined, { timeout: 10_000 });
    const hovered = Number((await page.locator('#hover-readout').textContent())!.replace(/[^\d.]/g, ''));
    assert.ok(Math.abs(hovered - tree.height) < 3, `hover ${hovered} m near the top of a ${tree.height} m tree`);
  });

  test('drawing a rectangle runs a job to completion with a histogram and a GeoJSON download', async () => {
    const [w, s, e, n] = bbox;
    const region: Bbox = [w + (e - w) * 0.25, s + (n - s) * 0.25, w + (e - w) * 0.7, s + (n - s) * 0.7];
    await page.evaluate((b) => (window as any).forestmap.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 80, animate: false }), bbox);
    await waitForMapIdle(page);
    await page.locator('#draw-rectangle').click();
    const a = await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [region[0], region[3]]);
    const b = await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [region[2], region[1]]);
    await page.mouse.click(a.x, a.y);
    await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 });
    await page.mouse.move(b.x, b.y, { steps: 4 });
    await page.mouse.click(b.x, b.y);
    await page.waitForFunction(() => (window as any).forestmap.region !== null, undefined, { timeout: 10_000 });
    const run = page.locator('#job-run');
    assert.equal(await run.isDisabled(), false);
    await run.click();
    await page.locator('#job-results').waitFor({ state: 'visible', timeout: 150_000 });
    const bars = await page.locator('#job-histogram svg rect.bar').count();
    const said = async () => `job: ${await page.locator('#job-text').textContent()}; messages: ${await page.locator('#messages').textContent()}`;
    assert.ok(bars > 0, `the histogram has bars (${await said()})`);
    const statsTreeCount = Number((await page.locator('#job-stats dd[data-stat="tree_count"]').textContent())!.replace(/[^\d]/g, ''));
    const histogramTotal = await page.locator('#job-histogram svg rect.bar').evaluateAll((els) => els.reduce((s, e) => s + Number(e.getAttribute('data-count')), 0));
    assert.equal(histogramTotal, statsTreeCount, 'the histogram counts every tree');
    assert.equal(await page.locator('#job-stats dd[data-stat="data_coverage"]').count(), 0, 'no coverage line for a region inside the imagery');

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#job-downloads a[data-output="trees"]').click()]);
    const geojson = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    assert.equal(geojson.type, 'FeatureCollection');
    assert.equal(geojson.features.length, statsTreeCount);
    // the same count as the server's tree store holds with tops inside the rectangle
    const stored = (await (await fetch(`${server.url}/api/rasters/${chmId}/trees?geometry=point&bbox=${region.join(',')}`)).json()) as any;
    const drawn = (await page.evaluate(() => (window as any).forestmap.region)) as { coordinates: number[][][] };
    const xs = drawn.coordinates[0].map((c) => c[0]);
    const ys = drawn.coordinates[0].map((c) => c[1]);
    const inside = (stored.features as any[]).filter((f) => {
      const [x, y] = f.geometry.coordinates;
      return x >= Math.min(...xs) && x <= Math.max(...xs) && y >= Math.min(...ys) && y <= Math.max(...ys);
    });
    assert.ok(Math.abs(inside.length - geojson.features.length) <= Math.max(2, 0.05 * inside.length), `job ${geojson.features.length} trees vs store ${inside.length}`);
    assert.ok(geojson.features.length > 5, 'the region holds trees');
    assert.deepEqual(watch.consoleErrors, []);
    assert.deepEqual(watch.foreignRequests, []);
  });

  test('a drawn polygon runs too, and a past job reopens with its own results', async () => {
    const firstCount = await page.locator('#job-stats dd[data-stat="tree_count"]').textContent();
    const [w, s, e, n] = bbox;
    // the second corner lies past the imagery's east edge: about 3% of the triangle has no data
    const corners = [[w + (e - w) * 0.3, s + (n - s) * 0.3], [w + (e - w) * 1.12, s + (n - s) * 0.35], [w + (e - w) * 0.55, s + (n - s) * 0.8]];
    await page.locator('#draw-polygon').click();
    assert.equal(await page.locator('#draw-polygon').getAttribute('aria-pressed'), 'true');
    const pts = [];
    for (const [lon, lat] of corners) pts.push(await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [lon, lat]));
    for (const p of pts) {
      await page.mouse.move(p.x, p.y, { steps: 3 });
      await page.mouse.click(p.x, p.y);
    }
    // closing click on the first corner finishes the polygon
    await page.mouse.move(pts[0].x, pts[0].y, { steps: 3 });
    await page.mouse.click(pts[0].x, pts[0].y);
    await page.waitForFunction(() => (window as any).forestmap.region?.coordinates?.[0]?.length === 4, undefined, { timeout: 10_000 });
    await page.locator('#job-run').click();
    await page.waitForFunction((before) => {
      const t = document.getElementById('job-text')?.textContent ?? '';
      return /^Done/.test(t) && document.querySelector('#job-stats dd[data-stat="tree_count"]')?.textContent !== before;
    }, firstCount, { timeout: 150_000 });
    const secondCount = await page.locator('#job-stats dd[data-stat="tree_count"]').textContent();
    const coverage = Number((await page.locator('#job-stats dd[data-stat="data_coverage"]').textContent())!.replace(/[^\d.]/g, ''));
    assert.ok(coverage > 90 && coverage < 99.5, `the imagery covers ${coverage}% of the triangle`);

    // the list holds both jobs; the older one shows its own statistics again
    await page.locator('#jobs-refresh').click();
    await page.waitForFunction(() => document.querySelectorAll('#jobs-list li[data-job-id]').length >= 2, undefined, { timeout: 10_000 });
    await page.locator('#jobs-list li[data-job-id]').last().locator('button').click();
    await page.waitForFunction((want) => document.querySelector('#job-stats dd[data-stat="tree_count"]')?.textContent === want, firstCount, { timeout: 10_000 });
    assert.notEqual(firstCount, secondCount, 'the two regions hold different numbers of trees');
    // and the map outlines that job's region again: the rectangle (5 positions), not the triangle just drawn (4)
    const outline = await page.evaluate(() => {
      const data = (window as any).forestmap.map.getSource('region').serialize().data;
      const g = data?.features?.[0]?.geometry;
      return g?.type === 'MultiPolygon' ? g.coordinates[0][0].length : g?.type === 'Polygon' ? g.coordinates[0].length : null;
    });
    assert.equal(outline, 5, 'the reopened job draws its own region');
    assert.deepEqual(watch.consoleErrors, []);
  });

  test('a region file in the imagery\'s own CRS loads, shows where it lies and runs; a file that is not GeoJSON is refused in words', async () => {
    const notGeoJson = { name: 'stands.kml', mimeType: 'application/vnd.google-earth.kml+xml', buffer: Buffer.from('<kml/>') };
    await page.locator('#region-file').setInputFiles(notGeoJson);
    await page.waitForFunction(() => /stands\.kml is not GeoJSON/.test(document.getElementById('messages')?.textContent ?? ''), undefined, { timeout: 10_000 });
    // a stand boundary as ogr2ogr writes it from a shapefile in UTM: a crs member, projected metres
    const image = ((await (await fetch(`${server.url}/api/rasters/${imageId}`)).json()) as any);
    const [x0, y0, x1, y1] = image.bounds as number[];
    const at = (fx: number, fy: number) => [x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy];
    const stand = {
      type: 'FeatureCollection', name: 'stands', crs: { type: 'name', properties: { name: `urn:ogc:def:crs:EPSG::${image.crs.epsg}` } },
      features: [
        { type: 'Feature', properties: { stand: 'B7' }, geometry: { type: 'Polygon', coordinates: [[at(0.2, 0.2), at(0.6, 0.25), at(0.55, 0.6), at(0.25, 0.55), at(0.2, 0.2)]] } },
        { type: 'Feature', properties: { stand: 'B8', area: 'ignored' }, geometry: { type: 'Polygon', coordinates: [[at(0.65, 0.3), at(0.85, 0.3), at(0.85, 0.7), at(0.65, 0.7), at(0.65, 0.3)]] } },
      ],
    };
    await page.locator('#region-file').setInputFiles({ name: 'stands.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(stand)) });
    await page.waitForFunction(() => (window as any).forestmap.region?.type === 'MultiPolygon', undefined, { timeout: 10_000 });
    await page.waitForFunction(() => /stands\.geojson: 2 features, [\d.]+ ha\. A job gives the statistics of each/.test(document.getElementById('messages')?.textContent ?? ''), undefined, { timeout: 5_000 });
    const shown = await page.evaluate(() => (window as any).forestmap.map.getSource('region').serialize().data.features[0].geometry);
    assert.equal(shown.type, 'MultiPolygon');
    assert.equal(shown.coordinates[0][0].length, 5);
    // in WGS84, inside the imagery's bounds, where the file's corners are
    for (const [lon, lat] of shown.coordinates[0][0]) assert.ok(lon > bbox[0] && lon < bbox[2] && lat > bbox[1] && lat < bbox[3], `${lon}, ${lat} inside ${bbox}`);
    const run = page.locator('#job-run');
    assert.equal(await run.isDisabled(), false, 'a loaded region can be run');
    const before = await page.locator('#job-stats dd[data-stat="tree_count"]').textContent();
    await run.click();
    await page.waitForFunction((prev) => {
      const t = document.getElementById('job-text')?.textContent ?? '';
      return /^Done/.test(t) && document.querySelector('#job-stats dd[data-stat="tree_count"]')?.textContent !== prev;
    }, before, { timeout: 150_000 });
    const count = Number((await page.locator('#job-stats dd[data-stat="tree_count"]').textContent())!.replace(/[^\d]/g, ''));
    assert.ok(count > 5, `the stands hold trees (${count})`);
    // the file's two stands, each with its own figures, named by their first attribute
    const rows = await page.locator('#job-parts tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.deepEqual(rows.map((r) => r[0]), ['B7', 'B8']);
    const perStand = rows.map((r) => Number(r[2].replace(/[^\d]/g, '')));
    assert.ok(perStand.every((n) => n > 0), `trees per stand: ${perStand}`);
    assert.equal(perStand[0] + perStand[1], count);
    assert.deepEqual(watch.consoleErrors, []);
    assert.deepEqual(watch.foreignRequests, []);
  });

  test('computing canopy height for the image follows its progress and shows the new CHM', async () => {
    const models = (await (await fetch(`${server.url}/api/models`)).json()) as { models: Array<{ name: string }> };
    const model = models.models.find((m) => m.name === 'hrch-mini')?.name ?? models.models[0]?.name;
    if (!model) {
      // no model at all: the button must say why in words
      await page.locator('#canopy-start').click();
      await page.locator('#messages .message.error', { hasText: 'Starting the canopy computation' }).waitFor({ timeout: 10_000 });
      return;
    }
    await page.locator('#raster-select').selectOption(imageId);
    await page.locator('#model-select').selectOption(model);
    assert.equal(await page.locator('#canopy-start').isDisabled(), false, 'an image with only a registered CHM beside it can still run the model');
    await page.locator('#canopy-start').click();
    await page.waitForFunction(() => document.getElementById('canopy-text')?.textContent === 'Canopy height ready.', undefined, { timeout: 150_000 });
    const { rasters } = (await (await fetch(`${server.url}/api/rasters`)).json()) as { rasters: Array<{ id: string; role: string; sourceId: string | null }> };
    const computed = rasters.find((r) => r.role === 'chm' && r.sourceId === imageId);
    assert.ok(computed, 'the computed CHM is in the catalog');
    const tiles = await page.evaluate(() => (window as any).forestmap.map.getSource('canopy').tiles[0] as string);
    assert.match(tiles, new RegExp(`/tiles/${computed.id}/`), 'the canopy layer shows the computed CHM');
    assert.equal(await page.locator('#canopy-start').isDisabled(), true);
    await waitForMapIdle(page);
    assert.deepEqual(watch.consoleErrors, []);
  });

  test('a bad upload is refused in words; a GeoTIFF upload is added and shown', async () => {
    await page.locator('#upload-file').setInputFiles({ name: 'notes.tif', mimeType: 'image/tiff', buffer: Buffer.from('these are not pixels') });
    await page.locator('#upload-start').click();
    const error = page.locator('#messages .message.error', { hasText: 'Uploading the raster' });
    await error.waitFor({ timeout: 20_000 });
    const text = (await error.locator('span').textContent())!;
    assert.match(text, /^Uploading the raster: .*not a TIFF/i, text);
    assert.doesNotMatch(text, /<|internal server error/i, 'the server\'s reason, not markup');

    await page.locator('#upload-file').setInputFiles(sceneImage);
    await page.locator('#upload-start').click();
    await page.waitForFunction(() => /^Added /.test(document.getElementById('upload-text')?.textContent ?? ''), undefined, { timeout: 30_000 });
    const selected = await page.locator('#raster-select').inputValue();
    assert.notEqual(selected, imageId, 'the upload is a new raster and is selected');
    const { rasters } = (await (await fetch(`${server.url}/api/rasters`)).json()) as { rasters: Array<{ id: string; origin: string }> };
    assert.equal(rasters.find((r) => r.id === selected)?.origin, 'upload');
    await waitForMapIdle(page);
  });
});
