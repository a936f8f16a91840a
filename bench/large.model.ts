/**
 * `--model hrch-large-random` for the benches: Meta's released SSL-large architecture (ViT-L/16,
 * 24 blocks, DPT head; shapes from ../shared/fixtures/hrch/large_state_dict_keys.tsv) with seeded
 * random weights, built by the port and converted by `forestmap convert` into a cache folder on
 * first use (1.35 GB, about a minute). Its heights mean nothing: it times the pipeline on the
 * compute of the model users convert from Meta's checkpoint.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PYTHON = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
export const FIXTURES = resolve(here, '../../shared/fixtures/hrch');
export const LARGE_RANDOM = 'hrch-large-random';

/**
 * What a bench's `--model` names: the model folder (hrch-large-random built on first use) and, for
 * hrch-large-random, the checkpoint it was converted from. Other names pass through.
 */
export function benchModel(name: string): { model: string; checkpoint: string | null } {
  if (name !== LARGE_RANDOM) return { model: name, checkpoint: null };
  const shapes = join(FIXTURES, 'large_state_dict_keys.tsv');
  if (!existsSync(shapes)) throw new Error(`${LARGE_RANDOM} needs ${shapes} (../shared)`);
  const dir = join(tmpdir(), 'forestmap-bench', LARGE_RANDOM);
  const checkpoint = join(dir, 'checkpoint.pth');
  const model = join(dir, 'model');
  if (!existsSync(join(model, 'manifest.json'))) {
    mkdirSync(dir, { recursive: true });
    console.log(`# building ${LARGE_RANDOM} in ${dir} (once)`);
    const py = spawnSync(PYTHON, [join(here, 'inference_torch.py'), 'random-checkpoint', '--shapes', shapes, '--out', checkpoint, '--seed', '0'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (py.status !== 0) throw new Error(`the random checkpoint failed (${py.status}): ${py.stderr.slice(-2000)}`);
    const r = spawnSync(process.execPath, [join(here, '../bin/forestmap.js'), 'convert', '--checkpoint', checkpoint, '--out', model, '--name', LARGE_RANDOM, '--test-fixture',
      '--description', "TIMING ONLY: Meta's SSL-large architecture with seeded random weights; its heights are meaningless"], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`forestmap convert failed: ${r.stderr.slice(-2000)}`);
  }
  return { model, checkpoint };
}
