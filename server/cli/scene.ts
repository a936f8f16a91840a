import { numberFlag, outputFileFlag, parseFlags, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { generateScene, LIMITS } from '../scene/generate.ts';
import { PRESET_NAMES } from '../scene/presets.ts';
import { InvalidInputError } from '../errors.ts';
import { join } from 'node:path';

export const usage = `forestmap scene --out DIR [--width PX] [--height PX] [--gsd M] [--seed N] [--preset NAME] [--no-crowns] [--preview PNG]

Writes a synthetic forest with exact truth to DIR:
  image.tif       RGB uint8 Cloud Optimized GeoTIFF (EPSG:32610, Oregon Cascades)
  chm.tif         float32 true canopy height model on the same grid (m, ground = 0)
  trees.geojson   one WGS84 point per visible tree: id, x, y (native CRS), height_m,
                  crown_radius_m, crown_base_m, type (conifer | broadleaf)
  crowns.geojson  the crown disc of each tree as a polygon, joined by id (unless --no-crowns)
  scene.json      seed, preset, grid, CRS, sun, counts
Options: --width/--height ${LIMITS.minSize}..${LIMITS.maxSize} px (default 2000), --gsd ${LIMITS.minGsd}..${LIMITS.maxGsd} m (default 0.5),
--seed integer (default 1), --preset ${PRESET_NAMES.join(' | ')} (default mixed),
--preview PNG also writes a PNG preview (whole scene beside a 2x detail).
The same options always produce byte-identical files.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    out: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
    gsd: { type: 'string' },
    seed: { type: 'string' },
    preset: { type: 'string' },
    'no-crowns': { type: 'boolean' },
    preview: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const out = requireFlag(values.out, 'out');
  const preview = values.preview === undefined ? undefined : outputFileFlag(values.preview, 'preview');
  const opts = {
    out,
    width: numberFlag(values.width, 'width', 2000, LIMITS.minSize, LIMITS.maxSize),
    height: numberFlag(values.height, 'height', 2000, LIMITS.minSize, LIMITS.maxSize),
    gsd: numberFlag(values.gsd, 'gsd', 0.5, LIMITS.minGsd, LIMITS.maxGsd),
    seed: numberFlag(values.seed, 'seed', 1, 0, 0xffffffff),
    preset: values.preset ?? 'mixed',
    crowns: !values['no-crowns'],
  };
  let lastPct = -1;
  const started = Date.now();
  try {
    const summary = await generateScene({
      ...opts,
      onProgress: values.quiet ? undefined : (done, total) => {
        const pct = Math.floor((100 * done) / total / 10) * 10;
        if (pct !== lastPct) process.stderr.write(`scene: ${pct}% (${done}/${total} rows)\n`);
        lastPct = pct;
      },
    });
    if (preview) {
      const { writeScenePreview } = await import('../scene/preview.ts');
      await writeScenePreview(join(out, summary.files.image), preview);
    }
    const c = summary.counts;
    process.stdout.write(`${out}: ${opts.width}x${opts.height} px at ${opts.gsd} m, preset ${summary.preset}, seed ${opts.seed}: ${c.trees} trees (${c.conifer} conifer, ${c.broadleaf} broadleaf) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return 0;
  } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(err.message);
    throw err;
  }
}
