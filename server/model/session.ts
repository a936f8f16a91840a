/**
 * One onnxruntime-node InferenceSession per model (cached by ONNX path, as the promise that opens
 * it, dropped again if opening fails), and the one call the engine needs: normalised NCHW float32
 * in, metres out.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { InvalidInputError, LimitExceededError } from '../errors.ts';
import type { LoadedManifest, ModelOutput } from './manifest.ts';

/** Bounds on what one run may allocate (input floats): 64 tiles of 1024x1024x3. */
export const MAX_RUN_ELEMENTS = 64 * 3 * 1024 * 1024;
export const MAX_EDGE = 8192;

export interface ModelSession {
  manifest: LoadedManifest;
  /**
   * input: batch x 3 x height x width, normalised (see preprocess.ts). Returns batch x 1 x height x width
   * metres. Models whose output is larger than the input (HRCH pads to a multiple of 32 at the
   * bottom/right) are cropped back to the input's top-left height x width.
   */
  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array>;
  /** Like run, but returns the model's own output size, uncropped. */
  runRaw(input: Float32Array, batch: number, height: number, width: number): Promise<{ data: Float32Array; height: number; width: number }>;
  release(): Promise<void>;
}

const sessions = new Map<string, Promise<ModelSession>>();

/** The process's session for a model; `threads`: onnxruntime's intra-op threads (default: every core). */
export function getModelSession(manifest: LoadedManifest, threads = availableParallelism()): Promise<ModelSession> {
  let p = sessions.get(manifest.onnxPath);
  if (!p) {
    p = openSession(manifest, threads);
    sessions.set(manifest.onnxPath, p);
    p.catch(() => sessions.delete(manifest.onnxPath));
  }
  return p;
}

/** Releases every cached session (tests, shutdown). */
export async function releaseAllSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => null))?.release()));
}

/** Applies the manifest's output mapping in place (when not baked into the graph). */
export function applyOutputMapping(data: Float32Array, output: ModelOutput): Float32Array {
  if (output.bakedIn) return data;
  const { scale, offset, relu } = output;
  const s = Math.fround(scale);
  const o = Math.fround(offset);
  if (o === 0 && relu) {
    // the usual case (metres = 10 x output, no offset), on every value the model gives: the loop
    // below with its tests hoisted, in about 60% of its time. The product is rounded before the
    // sign test, as there: a tiny negative product rounds to -0, which relu keeps
    for (let i = 0; i < data.length; i++) { const v = Math.fround(data[i] * s); data[i] = v < 0 ? 0 : v; }
    return data;
  }
  for (let i = 0; i < data.length; i++) {
    // Two float32 steps, as the reference pipelines do (10*y, then +offset, then relu).
    let v = Math.fround(data[i] * s);
    if (o !== 0) v = Math.fround(v + o);
    data[i] = relu && v < 0 ? 0 : v;
  }
  return data;
}

/** Copies the top-left height x width of each batch x 1 x srcH x srcW plane. */
export function cropPlanes(data: Float32Array, batch: number, srcH: number, srcW: number, height: number, width: number): Float32Array {
  if (srcH === height && srcW === width) return data;
  const out = new Float32Array(batch * height * width);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      const from = b * srcH * srcW + y * srcW;
      out.set(data.subarray(from, from + width), (b * height + y) * width);
    }
  }
  return out;
}

function checkShape(input: Float32Array, batch: number, height: number, width: number, m: LoadedManifest) {
  for (const [k, v] of [['batch', batch], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidInputError(`model input ${k} must be a positive integer, got ${v}`);
  }
  if (height > MAX_EDGE || width > MAX_EDGE) throw new LimitExceededError(`model input ${height}x${width} exceeds ${MAX_EDGE} px per edge`);
  const n = batch * 3 * height * width;
  if (n > MAX_RUN_ELEMENTS) throw new LimitExceededError(`model batch of ${batch} x 3 x ${height} x ${width} exceeds ${MAX_RUN_ELEMENTS} values`);
  if (input.length !== n) throw new InvalidInputError(`model input has ${input.length} values, expected ${batch} x 3 x ${height} x ${width} = ${n}`);
  if (!m.input.dynamicSize && (height !== m.input.tileSize || width !== m.input.tileSize)) {
    throw new InvalidInputError(`model '${m.name}' takes ${m.input.tileSize}x${m.input.tileSize} tiles only, got ${height}x${width}`);
  }
}

async function openSession(manifest: LoadedManifest, threads: number): Promise<ModelSession> {
  const session = await ort.InferenceSession.create(manifest.onnxPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // The pipeline's reading and writing share the cores with the model's threads: with static
    // splits, every parallel op waits for its slowest (preempted) thread. Dynamic block sizes let
    // the unhindered thread take more of the work (+5-10% model throughput under a busy main thread,
    // scratch measurement; no change when the cores are free).
    extra: { session: { dynamic_block_base: '4' } },
  });
  const { inputName, outputName } = manifest.onnx;
  if (!session.inputNames.includes(inputName)) throw new InvalidInputError(`model '${manifest.name}': the ONNX graph has no input '${inputName}' (it has ${session.inputNames.join(', ')})`);
  if (!session.outputNames.includes(outputName)) throw new InvalidInputError(`model '${manifest.name}': the ONNX graph has no output '${outputName}' (it has ${session.outputNames.join(', ')})`);

  async function runRaw(input: Float32Array, batch: number, height: number, width: number) {
    checkShape(input, batch, height, width, manifest);
    const feeds = { [inputName]: new ort.Tensor('float32', input, [batch, 3, height, width]) };
    const result = await session.run(feeds, [outputName]);
    const out = result[outputName];
    const dims = out.dims;
    const outH = Number(dims[dims.length - 2]);
    const outW = Number(dims[dims.length - 1]);
    const data = out.data as Float32Array;
    if (!(data instanceof Float32Array) || data.length !== batch * outH * outW) {
      throw new InvalidInputError(`model '${manifest.name}' returned ${out.type} [${dims.join(', ')}]; expected float32 ${batch} x 1 x H x W`);
    }
    return { data: applyOutputMapping(data, manifest.output), height: outH, width: outW };
  }

  const modelSession: ModelSession = {
    manifest,
    runRaw,
    async run(input, batch, height, width) {
      const raw = await runRaw(input, batch, height, width);
      if (raw.height < height || raw.width < width) {
        throw new InvalidInputError(`model '${manifest.name}' returned ${raw.height}x${raw.width} for a ${height}x${width} input`);
      }
      return cropPlanes(raw.data, batch, raw.height, raw.width, height, width);
    },
    async release() {
      // A released session must not be handed out again from the cache.
      const cached = sessions.get(manifest.onnxPath);
      if (cached && (await cached.catch(() => null)) === modelSession) sessions.delete(manifest.onnxPath);
      await session.release();
    },
  };
  return modelSession;
}
