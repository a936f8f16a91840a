import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { numberFlag, parseFlags } from './args.ts';
import { UsageError } from './main.ts';
import { treeFlagSpec, treeOptionsFromFlags } from './trees.ts';
import { openRaster } from '../raster/source.ts';
import { detectTrees } from '../trees/detect.ts';
import { parseVocBoxes, scoreCrowns, type Box } from '../trees/crown.eval.ts';
import { readPointCloud } from '../pointcloud/las.reader.ts';
import { chmFromPoints } from '../pointcloud/chm.from.points.ts';
import type { CrownAlgorithm } from '../trees/types.ts';
import type { RasterImage } from '../raster/types.ts';

export const usage = `forestmap eval-crowns [--data DIR] [--plots A,B] [--algorithm all|dalponte|silva|watershed] [tree options]

Scores crown delineation from lidar CHMs against hand-drawn crown boxes (NeonTreeEvaluation):
for each plot with DIR/<plot>.xml (Pascal VOC boxes on DIR/<plot>.tif) and a CHM
(DIR/<plot>_CHM.tif, else one made from DIR/<plot>.las|.laz, p2r subcircle 0.15), predicted crowns (as
boxes) are matched one-to-one to the truth boxes by the Hungarian method on intersection area; a
pair with IoU > 0.4 is a true positive. Prints per-plot and mean precision and recall.

  --data DIR        default ../shared/data/neon
  --plots LIST      plot names (default: every <plot>.xml in DIR)
  --algorithm A     all (default) or one of dalponte, silva, watershed
  --source S        chm (default: <plot>_CHM.tif when present) | points (a CHM from <plot>.las|.laz)
  --res M           cell size of a CHM made from points (default 0.5)
  plus the tree options of 'forestmap trees' (--ws, --hmin, --smooth, --th-*, --max-cr*, --exclusion)

Published on the full benchmark (~200 plots): Silva 2016 0.34 / 0.47, Dalponte 2016 0.23 / 0.34,
DeepForest (RGB) 0.66 / 0.79 (precision / recall).`;

let pointsRes = 0.5;

async function plotChm(dir: string, plot: string, rgbCrs: RasterImage['grid']['crs'], fromPoints: boolean): Promise<RasterImage | null> {
  const chmPath = join(dir, `${plot}_CHM.tif`);
  if (existsSync(chmPath) && !fromPoints) {
    const src = await openRaster(chmPath);
    return src.readWindow({ x: 0, y: 0, width: src.grid.width, height: src.grid.height }, { overview: 0, bands: [0] });
  }
  for (const ext of ['.las', '.laz']) {
    const p = join(dir, plot + ext);
    if (existsSync(p)) return chmFromPoints(await readPointCloud(p), { res: pointsRes, subcircle: 0.15, crs: rgbCrs }).image;
  }
  return null;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { data: { type: 'string' }, plots: { type: 'string' }, source: { type: 'string' }, res: { type: 'string' }, ...treeFlagSpec });
  const fromPoints = (values.source ?? 'chm') === 'points';
  if (!['chm', 'points'].includes(values.source ?? 'chm')) throw new UsageError(`--source must be chm or points, got '${values.source}'`);
  pointsRes = numberFlag(values.res, 'res', 0.5, 0.1, 10);
  const dir = values.data ?? '../shared/data/neon';
  if (!existsSync(dir)) throw new UsageError(`--data ${dir} does not exist`);
  const plots = values.plots ? values.plots.split(',').map((s) => s.trim()).filter(Boolean)
    : readdirSync(dir).filter((f) => f.endsWith('.xml')).map((f) => basename(f, '.xml')).sort();
  const which = values.algorithm ?? 'all';
  const algorithms: CrownAlgorithm[] = which === 'all' ? ['dalponte', 'silva', 'watershed'] : [which as CrownAlgorithm];
  const sums = new Map<CrownAlgorithm, { p: number; r: number; n: number }>();
  for (const plot of plots) {
    const xmlPath = join(dir, `${plot}.xml`), rgbPath = join(dir, `${plot}.tif`);
    if (!existsSync(xmlPath) || !existsSync(rgbPath)) { console.log(`${plot}: skipped (needs ${plot}.xml and ${plot}.tif)`); continue; }
    const rgb = await openRaster(rgbPath);
    const t = rgb.grid.transform;
    // box pixels -> map: x = x0 + px * xres, y = y0 - py * yres (north-up RGB)
    const truth: Box[] = parseVocBoxes(readFileSync(xmlPath, 'utf8')).map((b) => ({
      xmin: t[0] + b.xmin * t[1], xmax: t[0] + b.xmax * t[1], ymax: t[3] + b.ymin * t[5], ymin: t[3] + b.ymax * t[5],
    }));
    const plotBox = { xmin: t[0], xmax: t[0] + rgb.grid.width * t[1], ymax: t[3], ymin: t[3] + rgb.grid.height * t[5] };
    const chm = await plotChm(dir, plot, rgb.grid.crs, fromPoints);
    if (!chm) { console.log(`${plot}: skipped (no ${plot}_CHM.tif and no point cloud)`); continue; }
    for (const algorithm of algorithms) {
      const opts = treeOptionsFromFlags({ ...values, algorithm });
      const result = detectTrees(chm, { ...opts, polygons: true });
      const predicted: Box[] = [];
      result.trees.forEach((tree, k) => {
        const crown = result.crowns[k];
        if (!crown) return;
        if (tree.x < plotBox.xmin || tree.x > plotBox.xmax || tree.y < plotBox.ymin || tree.y > plotBox.ymax) return;
        const b = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
        for (const [x, y] of crown[0]) { b.xmin = Math.min(b.xmin, x); b.xmax = Math.max(b.xmax, x); b.ymin = Math.min(b.ymin, y); b.ymax = Math.max(b.ymax, y); }
        predicted.push(b);
      });
      const s = scoreCrowns(predicted, truth);
      console.log(`${plot} ${algorithm}: truth ${s.truth}, predicted ${s.predicted}, TP ${s.truePositives}, precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`);
      const acc = sums.get(algorithm) ?? { p: 0, r: 0, n: 0 };
      acc.p += s.precision; acc.r += s.recall; acc.n++;
      sums.set(algorithm, acc);
    }
  }
  if (!sums.size) { console.log('no plot could be scored'); return 1; }
  for (const [algorithm, s] of sums) {
    console.log(`mean over ${s.n} plot(s), ${algorithm}: precision ${(s.p / s.n).toFixed(3)}, recall ${(s.r / s.n).toFixed(3)}`);
  }
  console.log('published (full benchmark): Silva 2016 0.34 / 0.47, Dalponte 2016 0.23 / 0.34, DeepForest 0.66 / 0.79');
  return 0;
}
