import { numberFlag, outputFileFlag, parseFlags, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { openRaster } from '../raster/source.ts';
import { resolveModel } from '../model/registry.ts';
import { checkImagery, computeChm, defaultBatch } from '../chm/engine.ts';
import { releaseInferenceRunners } from '../chm/inference.runner.ts';
import { formatDuration, formatProgressBar } from '../chm/progress.ts';
import { InvalidInputError } from '../errors.ts';

export const usage = `forestmap canopy --image RGB.tif --out chm.tif [--model NAME|PATH] [--batch N] [--aerial] [--quiet]

Canopy height model of an RGB GeoTIFF: overlapping model windows (the model's tile size and
stride), blended seamlessly, written as a float32 tiled deflate COG with overviews, in the image's
CRS at the model's ground sample distance (nodata -9999).
  --model   a model name from 'forestmap models', a model directory or an .onnx file with its
            manifest.json beside it (default: FORESTMAP_MODEL, else the default model)
  --batch   tiles per model run (default: the model manifest's tiling.batch, else 2; memory grows with it)
  --aerial  apply the model's percentile colour matching for aerial imagery, if it has one
Progress goes to stderr; Ctrl-C cancels and leaves no partial file.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    image: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    batch: { type: 'string' },
    aerial: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const image = requireFlag(values.image, 'image');
  const out = outputFileFlag(values.out, 'out');
  const manifest = await resolveModel(values.model);
  const batchSize = numberFlag(values.batch, 'batch', defaultBatch(manifest), 1, 64);
  if (!Number.isInteger(batchSize)) throw new UsageError('--batch must be a whole number');
  const source = await openRaster(image);
  // the file, not the command line, is at fault: exit 1 without the usage
  checkImagery(source.metadata, manifest);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  try {
    process.stderr.write(`canopy: ${image} with model ${manifest.name} ${manifest.version} (${manifest.input.gsd} m/px)${manifest.testFixture ? ' [TEST FIXTURE: random weights, heights are meaningless]' : ''}\n`);
    const result = await computeChm(out, {
      source, manifest, batchSize, aerial: values.aerial === true, signal: controller.signal,
      onProgress: values.quiet ? undefined : (p) => {
        const now = Date.now();
        if (tty) process.stderr.write(`\r${formatProgressBar(p)}`);
        else if (now - lastLine > 2000 || p.done === p.total) {
          process.stderr.write(`${formatProgressBar(p)}\n`);
          lastLine = now;
        }
        if (tty && p.done === p.total) process.stderr.write('\n');
      },
    });
    process.stdout.write(`${out}: ${result.grid.width}x${result.grid.height} px at ${manifest.input.gsd} m, ${result.windows} ${result.windows === 1 ? 'tile' : 'tiles'} (${result.inferred} inferred) in ${formatDuration(result.seconds)} (model ${result.inferenceSeconds.toFixed(1)} s)\n`);
    return 0;
  } catch (err) {
    if (tty) process.stderr.write('\n');
    if (err instanceof InvalidInputError) throw new UsageError(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    await releaseInferenceRunners();
  }
}
