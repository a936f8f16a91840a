/**
 * The canopy height engine: plan model windows over the raster at the model's GSD, read and
 * normalise each batch of windows, run the model (on its worker thread), blend the overlapping
 * predictions into finished strips and stream them to the COG writer.
 *
 * Pipelined: while the model computes batch k, the main thread reads and normalises the next
 * batches and blends/writes finished strips; at most `depth` batches are in flight. Memory is
 * bounded whatever the raster's size: a few batches of model input plus the accumulator's
 * tileSize + stripHeight rows, plus the writer's strip per pyramid level.
 */
import type { Grid, RasterImage, Window } from '../raster/types.ts';
import type { PixelBlock } from '../raster/resample.ts';
import type { SampleBlock } from '../raster/source.ts';
import { writeCog } from '../raster/cog.writer.ts';
import type { LoadedManifest } from '../model/manifest.ts';
import { lookupWindow, normalisationTable, prepareTile, type InputAdjustment } from '../model/preprocess.ts';
import { inputAdjustment } from './input.stats.ts';
import { CancelledError, InvalidInputError } from '../errors.ts';
import { planWindows, type ModelWindow, type WindowPlan } from '../../tiles/windows.ts';
import { BlendAccumulator, type Strip } from './blend.accumulator.ts';
import { BandReader, directChunks, resampledChunks, type BandWindow } from './band.reader.ts';
import { getInferenceRunner, type ByteInput, type InferenceRunner } from './inference.runner.ts';
import { modelGrid, sameGrid } from './model.grid.ts';

/** What the engine needs from a raster (server/raster/source.ts RasterSource satisfies it). */
export interface ChmSource {
  grid: Grid;
  readGrid(target: Grid, opts: { resampling: 'nearest' | 'bilinear' | 'average' }): Promise<RasterImage>;
  readWindow?(window: Window, opts?: Record<string, unknown>): Promise<RasterImage>;
  /** Decoded full-resolution pixels of a window clipped to the raster: the fast path at the model's GSD. */
  readLevel?(level: number, window: Window): Promise<PixelBlock>;
  /** The same in the file's own sample type (raster/source.ts SampleBlock): bytes stay bytes. */
  readLevelSamples?(level: number, window: Window): Promise<SampleBlock>;
  /** bandScaling: values are read scaled (as floats), so bytes are not bytes. */
  metadata?: { sampleType: string; bandScaling?: unknown } & Partial<ImageryFacts>;
}

export interface ChmProgress {
  /** Model windows done (inferred or skipped as all-nodata). */
  done: number;
  total: number;
  elapsedSeconds: number;
  /** Seconds left at the rate so far; null before the first batch. */
  etaSeconds: number | null;
}

export interface ChmOptions {
  source: ChmSource;
  manifest: LoadedManifest;
  /**
   * Tiles per model run (default: defaultBatch, the manifest's tiling.batch or 2). Larger batches
   * barely speed up a 256 px ViT on a CPU but multiply onnxruntime's activation arena: HRCH's
   * 256-bin head holds several 256 x 256 x 256 float tensors per tile (hrch-mini: 0.7 GB peak RSS
   * at batch 2, 2.5 GB at 8).
   */
  batchSize?: number;
  /** Rows per emitted strip (default 256, the COG tile size). */
  stripHeight?: number;
  /**
   * Only these pixels of the model grid are wanted: strips hold just them (their rows within the
   * crop, its columns), and nothing else is normalised or copied. Default: the whole grid.
   */
  crop?: Window;
  /**
   * Batches in flight (read, queued, computing). Default: as many as fit in 32 MiB of model input,
   * 4 to 16. The main thread stalls now and then (a strip of the source decoded, a CHM strip
   * handed to the writer); with only 4 in flight the model sessions sat idle meanwhile (forestmap-vit:
   * 0.5 core-seconds idle in a 4096^2 run at 4, none at 16).
   */
  depth?: number;
  /** Apply the manifest's percentile matching when it is marked for aerial imagery. */
  aerial?: boolean;
  /**
   * The raster's input adjustment (input.stats.ts), when the caller has it: a block of a raster
   * must use the whole raster's, not its own. Default: computed from `source`.
   */
  inputAdjustment?: InputAdjustment;
  nodata?: number;
  /** See tiles/windows.ts Tiling.taperEdges (default true; false reproduces Meta's notebook exactly). */
  taperEdges?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ChmProgress) => void;
  /** Defaults to the shared worker for the manifest's model. */
  runner?: InferenceRunner;
}

export const CHM_NODATA = -9999;

/** What checkImagery looks at: a raster's metadata, or as much of it as a source has. */
export interface ImageryFacts {
  bandCount: number;
  /** Ground sample distance in metres. */
  gsd?: number;
}

/**
 * The coarsest imagery a model runs on, as a multiple of its GSD: 2 m for the 0.5 m models. Tree
 * crowns (3-10 m across) are then 2-5 pixels; coarser imagery (3 m PlanetScope, 10 m Sentinel-2)
 * upsampled to the model's grid gives heights and "trees" the pixels cannot hold.
 */
export const MAX_GSD_RATIO = 4;

/**
 * Canopy height reads three bands (R, G, B) of imagery fine enough for the model. Checked where a
 * computation is asked for (a job, the canopy layer, the CLI), so a wrong raster is a 4xx then,
 * not a failure once the work has started.
 */
export function checkImagery(m: ImageryFacts, manifest: Pick<LoadedManifest, 'name' | 'input'>, raster?: string): void {
  const who = raster ? `raster '${raster}': ` : '';
  if (m.bandCount < 3) {
    // a single band is most often heights already (a lidar CHM, a DSM): say how to use it as one
    const hint = m.bandCount === 1 ? '; a one-band raster of heights is used as a CHM when its file name holds "chm" or it is uploaded with ?role=chm (forestmap process: --chm)' : '';
    throw new InvalidInputError(`${who}canopy height needs an RGB raster (3 bands), this one has ${m.bandCount}${hint}`);
  }
  const limit = MAX_GSD_RATIO * manifest.input.gsd;
  if (m.gsd !== undefined && m.gsd > limit * (1 + 1e-9)) {
    throw new InvalidInputError(`${who}its ${Number(m.gsd.toPrecision(3))} m pixels are too coarse for model '${manifest.name}' (${manifest.input.gsd} m): tree crowns cannot be resolved; it takes imagery up to ${limit} m`);
  }
}

/**
 * How computed CHM files are stored: their compression shares the cores with the model. zlib
 * level 6 saved 3.5% of the file for 4% more end-to-end time (forestmap-vit, 2048^2,
 * bench/inference); the run-length strategy compresses float predictor bytes about twice as fast
 * as level 1 for a file about 5% larger; heights rounded to 2^-10 m (under 0.5 mm, against a
 * model error of metres) halve the file and compress a quarter faster again (measured on a
 * forestmap-vit CHM). NaN-free: nodata (-9999) is a whole multiple of the quantum.
 */
export const CHM_COMPRESSION = { compression: 'deflate', deflateLevel: 1, deflateStrategy: 'rle', floatQuantum: 2 ** -10 } as const;
export const DEFAULT_BATCH = 2;

/** Windows per model run for `manifest` when the caller names none: the manifest's tiling.batch, else DEFAULT_BATCH. */
export function defaultBatch(manifest: Pick<LoadedManifest, 'tiling'>): number {
  return manifest.tiling.batch ?? DEFAULT_BATCH;
}
const MAX_BATCH = 64;

export interface ChmRun {
  grid: Grid;
  plan: WindowPlan;
  strips: AsyncGenerator<Strip, void, undefined>;
  /** Timing so far: wall seconds, and seconds the model computed. */
  stats(): ChmStats;
}

export interface ChmStats {
  /** Wall seconds since the run started. */
  seconds: number;
  /** Seconds the model spent computing (on its worker thread). */
  inferenceSeconds: number;
  /** Wall seconds spent reading + normalising batches (async, overlapping inference and each other), and blending into strips. */
  prepareSeconds: number;
  blendSeconds: number;
  windows: number;
  inferred: number;
}

interface PreparedBatch {
  windows: ModelWindow[];
  /** Index into `windows` of each tile packed into `input` (all-nodata tiles are left out). */
  active: number[];
  /** The model's input: normalised values, or (`bytes`) the tiles' bytes for the runner to normalise. */
  input: Float32Array | null;
  bytes: ByteInput | null;
  /** Per active tile validity (tileSize^2 each); null when every pixel is valid. */
  masks: Uint8Array | null;
}

/** Start a CHM computation: the strips come out top to bottom as they are finished. */
export function startChm(opts: ChmOptions): ChmRun {
  const { source, manifest } = opts;
  const size = manifest.tiling.tileSize;
  if (manifest.input.tileSize !== size && !manifest.input.dynamicSize) {
    throw new InvalidInputError(`model '${manifest.name}': tiling.tileSize ${size} differs from input.tileSize ${manifest.input.tileSize} and the model takes fixed-size input`);
  }
  // a file's metadata settles it before any window is read (a job checks at planning, the same way)
  if (source.metadata?.bandCount !== undefined) checkImagery({ ...source.metadata, bandCount: source.metadata.bandCount }, manifest);
  const batchSize = opts.batchSize ?? defaultBatch(manifest);
  if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH)) throw new InvalidInputError(`batch size must be an integer in 1..${MAX_BATCH}, got ${batchSize}`);
  const grid = modelGrid(source.grid, manifest.input.gsd);
  const plan = planWindows(grid.width, grid.height, { ...manifest.tiling, taperEdges: opts.taperEdges ?? true });
  const nodata = opts.nodata ?? CHM_NODATA;
  const started = performance.now();
  let runner: InferenceRunner | undefined = opts.runner;
  let inferred = 0;
  let done = 0;
  const computeAtStart = opts.runner?.computeMs ?? 0;
  let computeBase = computeAtStart;

  const same = sameGrid(grid, source.grid);
  // each strip of model-grid rows is decoded (and resampled when the GSD differs) once
  const bandReader = same && (source.readLevelSamples || source.readLevel)
    ? new BandReader(grid, directChunks(source), source.metadata?.sampleType === 'uint8' && !source.metadata.bandScaling)
    // narrower chunks when resampling: a source up to 6x finer must stay under the reader's decode limit
    : new BandReader(grid, resampledChunks(source, grid), false, { chunkColumns: 1024 });

  // fixed once per raster (from the whole image when it needs statistics), before the first batch
  let preparing: Promise<InputPreparation> | null = null;
  const preparation = () => (preparing ??= (opts.inputAdjustment ? Promise.resolve(opts.inputAdjustment) : inputAdjustment(source, manifest, opts.aerial === true))
    // byte imagery is prepared by table lookup straight from the strips
    .then((adj) => ({ adj, table: bandReader.bytes ? normalisationTable(manifest.input, adj) : null })));

  const batches: ModelWindow[][] = [];
  for (let r = 0; r < plan.ys.length; r++) {
    const row = plan.windows.filter((w) => w.row === r);
    for (let i = 0; i < row.length; i += batchSize) batches.push(row.slice(i, i + batchSize));
  }

  let prepareMs = 0;
  let blendMs = 0;
  const batchInputs: BatchInputs = { size, manifest, bandReader, preparation, runner: () => runner };

  async function prepare(wins: ModelWindow[]): Promise<PreparedBatch> {
    const t0 = performance.now();
    try {
      return await prepareBatch(wins, batchInputs);
    } finally {
      prepareMs += performance.now() - t0;
    }
  }

  async function* strips(): AsyncGenerator<Strip, void, undefined> {
    // the model's worker starts while the first batches are read
    const ready = (runner ? Promise.resolve(runner) : getInferenceRunner(manifest)).then((r) => {
      runner = r;
      computeBase = opts.runner ? computeAtStart : r.computeMs;
      return r;
    });
    ready.catch(() => undefined); // surfaces through the first batch that needs it
    const acc = new BlendAccumulator(plan, opts.stripHeight ?? 256, nodata, opts.crop);
    const depth = Math.max(1, opts.depth ?? defaultDepth(batchSize * 3 * size * size * 4));
    type Done = { prep: PreparedBatch; out: Float32Array | null };
    const queue: Promise<Done>[] = [];
    let next = 0;
    const launch = () => {
      while (queue.length < depth && next < batches.length) {
        const wins = batches[next++];
        const p = prepare(wins).then(async (prep) => ({ prep, out: prep.active.length ? await runPrepared(await ready, prep) : null }));
        p.catch(() => undefined); // observed when its turn comes; silence it if we stop early
        queue.push(p);
      }
    };
    const runPrepared = (r: InferenceRunner, prep: PreparedBatch) => prep.bytes ? r.runBytes!(prep.bytes, prep.active.length, size, size) : r.run(prep.input!, prep.active.length, size, size);
    const n = size * size;
    opts.onProgress?.({ done: 0, total: plan.windows.length, elapsedSeconds: (performance.now() - started) / 1000, etaSeconds: null });
    try {
      launch();
      while (queue.length) {
        if (opts.signal?.aborted) throw new CancelledError('canopy height computation cancelled');
        const { prep, out } = await queue.shift()!;
        launch();
        const tb = performance.now();
        let slot = 0;
        for (let k = 0; k < prep.windows.length; k++) {
          if (prep.active[slot] === k) {
            acc.add(prep.windows[k], out, slot * n, prep.masks, slot * n);
            slot++;
          } else {
            acc.add(prep.windows[k], null);
          }
        }
        if (out) runner?.releaseOutput?.(out);
        blendMs += performance.now() - tb;
        inferred += prep.active.length;
        done += prep.windows.length;
        if (opts.onProgress) {
          const elapsed = (performance.now() - started) / 1000;
          opts.onProgress({ done, total: plan.windows.length, elapsedSeconds: elapsed, etaSeconds: (elapsed / done) * (plan.windows.length - done) });
        }
        for (;;) {
          const tt = performance.now();
          const s = acc.takeStrip();
          blendMs += performance.now() - tt;
          if (!s) break;
          if (s.height === 0) continue; // rows outside the crop
          yield s;
          if (opts.signal?.aborted) throw new CancelledError('canopy height computation cancelled');
        }
      }
      if (!acc.done) throw new Error('internal: CHM strips incomplete after the last window');
    } finally {
      next = batches.length;
    }
  }

  return {
    grid,
    plan,
    strips: strips(),
    stats: () => ({
      seconds: (performance.now() - started) / 1000,
      inferenceSeconds: ((runner?.computeMs ?? computeBase) - computeBase) / 1000,
      prepareSeconds: prepareMs / 1000,
      blendSeconds: blendMs / 1000,
      windows: plan.windows.length,
      inferred,
    }),
  };
}

/** A raster's input adjustment, and for byte imagery its bands' lookup tables. */
interface InputPreparation {
  adj: InputAdjustment;
  /** Byte imagery: the bands' lookup tables end to end (band c's byte v at c * 256 + v). */
  table: Float32Array | null;
}

/** What a run's batches are prepared from. */
interface BatchInputs {
  size: number;
  manifest: LoadedManifest;
  bandReader: BandReader;
  preparation: () => Promise<InputPreparation>;
  /** The run's runner, once it is known. */
  runner: () => InferenceRunner | undefined;
}

/**
 * Reads a batch's windows (one read: they sit side by side in a tile row) and lays them out as the
 * model's input. A module function, not a closure of startChm: V8 compiled each run's closure anew
 * (30-40 ms of a compiler thread per job, and the first batches ran unoptimised meanwhile).
 */
async function prepareBatch(wins: ModelWindow[], inputs: BatchInputs): Promise<PreparedBatch> {
  const { size, manifest, bandReader } = inputs;
  const region: Window = { x: wins[0].x, y: wins[0].y, width: wins[wins.length - 1].x + size - wins[0].x, height: size };
  const plane = size * region.width;
  // byte imagery is read straight into the model's shared memory once the runner is up
  const early = inputs.runner();
  const direct = bandReader.bytes && early?.runBytes && early.byteBuffer ? early.byteBuffer(3 * plane) : null;
  const into = direct ? [0, 1, 2].map((c) => direct.subarray(c * plane, (c + 1) * plane)) : undefined;
  const [img, { adj, table }] = await Promise.all([bandReader.read(region, into), inputs.preparation()]);
  const runner = inputs.runner();
  checkImagery({ bandCount: img.bands.length }, manifest);
  // bytes to the model's thread when every pixel is data: a nodata pixel's value must be 0
  // after normalisation, which no byte's table entry need be
  if (table && runner?.runBytes && runner.byteBuffer && (!img.mask || img.mask.indexOf(0) < 0)) {
    // the bands as read: the windows lie side by side in them, and the model's thread takes each
    // from its column (a copy per window row here cost 1,536 views per batch, and their garbage)
    let bytes = direct;
    if (!bytes) {
      bytes = runner.byteBuffer(3 * plane);
      for (let c = 0; c < 3; c++) bytes.set(img.bands[c] as Uint8Array, c * plane);
    }
    return { windows: wins, active: wins.map((_, k) => k), input: null, bytes: { bytes, stride: region.width, columns: wins.map((w) => w.x - region.x), table }, masks: null };
  }
  try {
    return prepareValues(wins, inputs, img, region, adj, table, runner);
  } finally {
    // read into the shared memory, but prepared as values (nodata in the batch)
    if (direct) early!.releaseByteBuffer?.(direct);
  }
}

/** The batch as model input values (float imagery, or windows with nodata). */
function prepareValues(wins: ModelWindow[], inputs: BatchInputs, img: BandWindow, region: Window, adj: InputAdjustment, table: Float32Array | null, runner: InferenceRunner | undefined): PreparedBatch {
  const { size, manifest } = inputs;
  const n = size * size;
  // float planes only for imagery the byte table cannot prepare
  const tile = table ? [] : [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  const tileMask = new Uint8Array(n);
  const active: number[] = [];
  const input = runner?.inputBuffer?.(wins.length * 3 * n) ?? new Float32Array(wins.length * 3 * n);
  let masks: Uint8Array | null = null;
  for (let k = 0; k < wins.length; k++) {
    const dx = wins[k].x - region.x;
    let valid = n;
    if (img.mask) {
      valid = 0;
      for (let ty = 0; ty < size; ty++) {
        const from = ty * region.width + dx;
        tileMask.set(img.mask.subarray(from, from + size), ty * size);
      }
      for (let i = 0; i < n; i++) valid += tileMask[i];
      if (valid === 0) continue;
    }
    const slot = active.length;
    active.push(k);
    const out = input.subarray(slot * 3 * n, (slot + 1) * 3 * n);
    if (table) {
      for (let c = 0; c < 3; c++) lookupWindow(out, c * n, img.bands[c] as Uint8Array, dx, region.width, size, size, table, c * 256);
    } else {
      for (let ty = 0; ty < size; ty++) {
        const from = ty * region.width + dx;
        for (let c = 0; c < 3; c++) tile[c].set(img.bands[c].subarray(from, from + size), ty * size);
      }
      prepareTile(tile, manifest.input, adj, out);
    }
    if (valid < n) {
      // nodata pixels become 0 after normalisation: the mean colour, as Meta pads tiles
      for (let i = 0; i < n; i++) if (!tileMask[i]) out[i] = out[n + i] = out[2 * n + i] = 0;
      masks ??= new Uint8Array(wins.length * n).fill(1);
      masks.set(tileMask, slot * n);
    }
  }
  const used = active.length * 3 * n;
  // a fresh, exactly-sized buffer: it is transferred to the worker
  return { windows: wins, active, input: used === input.length ? input : input.slice(0, used), bytes: null, masks };
}

/** Batches in flight by default for batches of `batchBytes` of model input. */
export function defaultDepth(batchBytes: number): number {
  return Math.min(16, Math.max(4, Math.floor((32 << 20) / batchBytes)));
}

export interface ChmResult extends ChmStats {
  path: string;
  grid: Grid;
  /** Main-thread seconds handing strips to the COG writer (compression, overviews, file I/O). */
  writeSeconds: number;
}

/**
 * Compute the CHM of a raster into a float32, tiled, deflate-compressed COG with overviews in the
 * source CRS at the model's GSD. The file appears (atomically) only when complete.
 */
export async function computeChm(out: string, opts: ChmOptions): Promise<ChmResult> {
  const tileSize = opts.stripHeight ?? 256;
  const run = startChm({ ...opts, stripHeight: tileSize });
  const it = run.strips;
  let waitMs = 0;
  const t0 = performance.now();
  try {
    await writeCog(out, { grid: run.grid, bands: 1, sampleType: 'float32', nodata: opts.nodata ?? CHM_NODATA, tileSize, ...CHM_COMPRESSION, overviews: 'auto' }, async (w) => {
      const tw = performance.now();
      const r = await it.next();
      waitMs += performance.now() - tw;
      if (r.done || r.value.y !== w.y || r.value.height !== w.height) throw new Error(`internal: CHM strip at row ${r.done ? 'end' : r.value.y} does not match the writer's strip at row ${w.y}`);
      return [r.value.values];
    });
  } finally {
    await it.return(undefined);
  }
  const s = run.stats();
  return { ...s, path: out, grid: run.grid, writeSeconds: (performance.now() - t0 - waitMs) / 1000 };
}

/** Blend a whole CHM in memory (small rasters, tests): one masked float32 RasterImage. */
export async function computeChmImage(opts: ChmOptions): Promise<RasterImage> {
  const run = startChm(opts);
  const values = new Float32Array(run.grid.width * run.grid.height);
  for await (const s of run.strips) values.set(s.values, s.y * s.width);
  const nodata = opts.nodata ?? CHM_NODATA;
  const mask = Uint8Array.from(values, (v) => (v === nodata ? 0 : 1));
  return { grid: run.grid, bands: [values], mask };
}
