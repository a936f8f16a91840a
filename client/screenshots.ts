/**
 * Takes the README's screenshots of the web map (docs/screenshots/*.png) in headless Chromium,
 * against the real server over a generated scene. Run: `npx tsx client/screenshots.ts [--size PX]`.
 */
import { mkdirSync } from 'node:fs';
import sharp from 'sharp';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumMissing, launchBrowser, openPage, startServer, waitForMapIdle } from '../test/e2e/harness.ts';
import { waitForTrees } from '../test/e2e/page.helpers.ts';
import { makeScene, readTruthTrees, tallTree } from '../test/e2e/scene.fixture.ts';

const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');
const sizeArg = process.argv.indexOf('--size');
const size = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 800;

async function main(): Promise<number> {
  if (chromiumMissing) {
    console.error(chromiumMissing);
    return 1;
  }
  mkdirSync(outDir, { recursive: true });
  let treesPath = '';
  const server = await startServer(async (dataDir) => {
    treesPath = (await makeScene(dataDir, { width: size, height: size, gsd: 0.5, seed: 3 })).trees;
  });
  const browser = await launchBrowser();
  try {
    const rasters = (await (await fetch(`${server.url}/api/rasters`)).json()) as any;
    const list: any[] = Array.isArray(rasters) ? rasters : rasters.rasters;
    const chm = list.find((r) => r.role === 'chm');
    const image = list.find((r) => r.role !== 'chm');
    const bbox = (image.wgs84Bounds ?? image.bounds?.wgs84) as [number, number, number, number];
    await waitForTrees(server.url, chm.id, 180_000);
    const truth = readTruthTrees(treesPath);

    const { page, consoleErrors } = await openPage(browser, server.url, { width: 1366, height: 820 });
    const shot = async (name: string) => {
      await waitForMapIdle(page);
      // palette PNGs: a quarter of the bytes, no visible loss on a map
      const png = await page.screenshot();
      await sharp(png).png({ palette: true, quality: 90, compressionLevel: 9, effort: 8 }).toFile(join(outDir, name));
      console.log(`[screenshots] ${name}`);
    };
    const map = (fn: string, arg: unknown) => page.evaluate(([fn, arg]) => (window as any).forestmap.map[fn as string](arg), [fn, arg] as const);
    await page.goto(`${server.url}/`);
    await waitForMapIdle(page);

    // 1. the whole scene: imagery, canopy height half-transparent, every tree
    await shot('overview.png');

    // 2. canopy height alone with its legend
    await page.locator('#layer-imagery-visible').uncheck();
    await page.locator('#layer-trees-visible').uncheck();
    await page.locator('#layer-canopy-visible').check();
    await page.locator('#layer-canopy-opacity').fill('100');
    await shot('canopy-height.png');
    await page.locator('#layer-imagery-visible').check();
    await page.locator('#layer-trees-visible').check();
    await page.locator('#layer-canopy-opacity').fill('45');

    // 3. tree by tree: crowns and tops up close, one tree clicked
    const tree = tallTree(truth, bbox);
    await map('jumpTo', { center: [tree.lon, tree.lat], zoom: 19.6 });
    await waitForMapIdle(page);
    const c = await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [tree.lon, tree.lat]);
    await page.mouse.click(c.x, c.y);
    await page.mouse.move(c.x + 60, c.y + 40);
    await page.waitForTimeout(400);
    await shot('trees-closeup.png');
    await page.locator('.maplibregl-popup-close-button').click().catch(() => {});
    await page.locator('#layer-canopy-visible').uncheck();

    // 4. a drawn region, processed: statistics and the height histogram
    await page.evaluate((b) => (window as any).forestmap.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 24, animate: false }), bbox);
    await waitForMapIdle(page);
    const [w, s, e, n] = bbox;
    const corners = [[w + (e - w) * 0.2, s + (n - s) * 0.75], [w + (e - w) * 0.65, s + (n - s) * 0.3]];
    await page.locator('#draw-rectangle').click();
    const pts = [];
    for (const [lon, lat] of corners) pts.push(await page.evaluate(([lon, lat]) => (window as any).forestmap.map.project([lon, lat]), [lon, lat]));
    await page.mouse.click(pts[0].x, pts[0].y);
    await page.mouse.move(pts[1].x, pts[1].y, { steps: 5 });
    await page.mouse.click(pts[1].x, pts[1].y);
    await page.locator('#job-run').click();
    await page.locator('#job-results').waitFor({ state: 'visible', timeout: 300_000 });
    await page.locator('#job-results').scrollIntoViewIfNeeded();
    await shot('region-results.png');

    // 5. tablet width: the map above, the controls below
    await page.setViewportSize({ width: 820, height: 1180 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('tablet.png');
    if (consoleErrors.length) console.warn('[screenshots] console errors:', consoleErrors);
    return 0;
  } finally {
    await browser.close();
    await server.close();
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
