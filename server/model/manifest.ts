/**
 * The model contract: every model is an ONNX file plus a manifest.json beside it, validated
 * against models/manifest.schema.json. Field meanings are documented in models/README.md.
 */
import { readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { InvalidInputError, NotFoundError } from '../errors.ts';

export type Architecture = 'hrch-dpt' | 'dinov2-dpt' | 'vit-dpt' | 'unet';
export type Rgb = [number, number, number];
export type BlendWindow = 'gaussian' | 'apodization' | 'hann' | 'none';

/** Linear colour remap applied before normalisation (Meta's aerial-to-satellite matching). */
export interface PercentileMatch {
  /** Which percentiles of each channel are matched, e.g. [5, 95]. */
  percentiles: [number, number];
  /** Target values per percentile, per channel, in the [0,1] scale (after input.scale): [[lowR,lowG,lowB],[highR,highG,highB]]. */
  target: [Rgb, Rgb];
  /** When the engine applies it: 'aerial' means only for imagery the user marks as aerial. Default 'aerial'. */
  when?: 'always' | 'aerial' | 'never';
}

export interface ModelInput {
  /** Tile edge in pixels the model was trained/evaluated on. */
  tileSize: number;
  patchSize: number;
  /** Input sizes that are a multiple of this give output exactly aligned with input (HRCH: 32). */
  sizeMultiple?: number;
  /** Ground sample distance the model expects, metres per pixel. */
  gsd: number;
  channels: ['R', 'G', 'B'];
  /** Multiplier from stored pixel value to [0,1], e.g. 1/255 for uint8. */
  scale: number;
  /** Normalisation: (value*scale - mean) / std, per channel, in float32. */
  mean: Rgb;
  std: Rgb;
  /** True when the graph accepts any height/width (not only tileSize). */
  dynamicSize?: boolean;
  percentileMatch?: PercentileMatch;
}

export interface ModelOutput {
  units: 'm';
  /** metres = relu?(raw*scale + offset) when not bakedIn. */
  scale: number;
  offset: number;
  relu: boolean;
  /** True when the graph already outputs metres (then scale/offset/relu are informational). */
  bakedIn: boolean;
}

export interface ModelTiling {
  tileSize: number;
  stride: number;
  window: BlendWindow;
  /** Gaussian sigma in pixels (for 'apodization': default tileSize/32). */
  sigma?: number;
  /**
   * Windows per model run the engine sends unless told otherwise (default 2). A larger batch runs
   * a small model faster on a CPU but multiplies onnxruntime's activation memory, which only the
   * model's maker can weigh: forestmap-vit (128 px) runs 4% faster per tile at 4 than at 2, for
   * about 90 MB more per session; HRCH's 256-bin head at 256 px holds 0.7 GB at 2, 2.5 GB at 8.
   */
  batch?: number;
}

export interface AccuracyMetric {
  name: string;
  value: number;
  units?: string;
  dataset: string;
  source: string;
}

export interface ModelManifest {
  name: string;
  version: string;
  architecture: Architecture;
  description?: string;
  license: string;
  /** The registry's default when FORESTMAP_MODEL is not set. */
  default?: boolean;
  /** Random-weight fixtures for tests: never offered as a canopy height model. */
  testFixture?: boolean;
  notes?: string[];
  provenance: {
    source: string;
    url?: string;
    commit?: string;
    checkpoint?: string;
    checkpointSha256?: string;
    checkpointLayout?: 'float' | 'compressed-qint8-dequantized' | 'state-dict' | 'trained-here';
    converter?: string;
    convertedAt?: string;
    architectureConfig?: Record<string, unknown>;
    [key: string]: unknown;
  };
  input: ModelInput;
  output: ModelOutput;
  tiling: ModelTiling;
  accuracy?: { metrics?: AccuracyMetric[]; notes?: string };
  onnx: {
    /** Relative to the manifest's directory, or absolute. */
    file: string;
    inputName: string;
    outputName: string;
    opset: number;
    /** Name of the external-data file (weights over 100 MB), relative to the ONNX file. */
    externalData?: string;
    sha256?: string;
    bytes?: number;
  };
}

/** A manifest read from disk: where it came from and where its ONNX file is. */
export interface LoadedManifest extends ModelManifest {
  dir: string;
  onnxPath: string;
}

/**
 * The version cached results (CHM files, job units) are keyed by: the manifest's version plus the
 * graph's digest when the manifest records one. Re-converted or retrained weights under an
 * unchanged name and version then never reuse results of the old ones.
 */
export function cacheVersion(m: Pick<ModelManifest, 'version' | 'onnx'>): string {
  const sha = m.onnx.sha256;
  return sha ? `${m.version}+onnx.${sha.slice(0, 12)}` : m.version;
}

/** How jobs name a model in their unit keys: `name@cacheVersion`. */
export function modelKeyOf(m: Pick<ModelManifest, 'name' | 'version' | 'onnx'>): string {
  return `${m.name}@${cacheVersion(m)}`;
}

export const MANIFEST_FILE = 'manifest.json';
const schemaPath = resolve(dirname(fileURLToPath(import.meta.url)), '../../models/manifest.schema.json');

let validator: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null } | undefined;
function getValidator() {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    validator = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
  }
  return validator;
}

/** Validates a parsed manifest; throws InvalidInputError listing every problem. Pure apart from the cached schema. */
export function validateManifest(data: unknown, where = 'manifest'): ModelManifest {
  const validate = getValidator();
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
    throw new InvalidInputError(`${where} is not a valid model manifest: ${problems.join('; ')}`, { problems });
  }
  const m = data as ModelManifest;
  if (m.tiling.stride > m.tiling.tileSize) throw new InvalidInputError(`${where}: tiling.stride (${m.tiling.stride}) exceeds tiling.tileSize (${m.tiling.tileSize}), which would leave gaps`);
  if (m.input.percentileMatch) {
    const [lo, hi] = m.input.percentileMatch.percentiles;
    if (!(lo < hi)) throw new InvalidInputError(`${where}: input.percentileMatch.percentiles must be increasing, got [${lo}, ${hi}]`);
  }
  return m;
}

/** Reads DIR/manifest.json, validates it and checks that its ONNX file exists. */
export async function loadManifest(dir: string): Promise<LoadedManifest> {
  const absDir = resolve(dir);
  const file = join(absDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new NotFoundError(`no model manifest at ${file}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const manifest = validateManifest(data, file);
  const onnxPath = isAbsolute(manifest.onnx.file) ? manifest.onnx.file : resolve(absDir, manifest.onnx.file);
  try {
    if (!(await stat(onnxPath)).isFile()) throw new Error('not a file');
  } catch {
    throw new NotFoundError(`model '${manifest.name}': ONNX file ${onnxPath} named in ${file} does not exist`);
  }
  if (manifest.onnx.externalData) {
    const dataPath = resolve(dirname(onnxPath), manifest.onnx.externalData);
    try {
      await stat(dataPath);
    } catch {
      throw new NotFoundError(`model '${manifest.name}': external data file ${dataPath} is missing (it must sit beside ${onnxPath})`);
    }
  }
  return { ...manifest, dir: absDir, onnxPath };
}

/** metres from a raw model output value, per the manifest (used when output.bakedIn is false). */
export function toMetres(raw: number, output: ModelOutput): number {
  const v = raw * output.scale + output.offset;
  return output.relu && v < 0 ? 0 : v;
}
