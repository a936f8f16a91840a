import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { loadManifest } from '../model/manifest.ts';

export const usage = `forestmap convert --checkpoint FILE.pth --out DIR [options]

Converts a Meta HighResCanopyHeight checkpoint (SSLhuge_satellite.pth, compressed_SSLhuge.pth,
compressed_SSLhuge_aerial.pth, compressed_SSLlarge.pth) into DIR/model.onnx + DIR/manifest.json.
Runs Python with torch and onnx (FORESTMAP_PYTHON, default /usr/bin/python3).

  --checkpoint FILE   the .pth file (float or qint8-compressed layout)
  --out DIR           model directory to write (created)
  --heads N           attention heads (default by width: 1024 -> 16, 1280 -> 20)
  --taps a,b,c,d      tapped blocks (default by depth: 24 -> 4,11,17,23; 32 -> 9,16,22,29)
  --name NAME         model name (default: DIR's folder name)
  --version V         manifest version (default 1)
  --opset N           ONNX opset (default 17)
  --norm inference|notebook   red mean 0.420 (inference.py, default) or 0.430 (notebook)
  --gsd M             ground sample distance the model expects, m/px (default 0.6)
  --percentile-target p5R,p5G,p5B,p95R,p95G,p95B   aerial colour matching targets in [0,1]
  --default           mark the model as the registry default
  --external-data auto|yes|no   ONNX external data (auto: when weights exceed 100 MB)
  --threads N         torch threads

Then: FORESTMAP_MODEL=DIR npm start`;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    checkpoint: { type: 'string' },
    out: { type: 'string' },
    heads: { type: 'string' },
    taps: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    description: { type: 'string' },
    opset: { type: 'string' },
    norm: { type: 'string' },
    gsd: { type: 'string' },
    'percentile-target': { type: 'string' },
    default: { type: 'boolean' },
    'test-fixture': { type: 'boolean' },
    'external-data': { type: 'string' },
    threads: { type: 'string' },
  });
  const checkpoint = resolve(requireFlag(values.checkpoint, 'checkpoint'));
  const out = resolve(requireFlag(values.out, 'out'));
  if (!existsSync(checkpoint)) throw new UsageError(`--checkpoint ${checkpoint} does not exist`);
  const args = ['-m', 'models.convert', '--checkpoint', checkpoint, '--out', out];
  for (const flag of ['heads', 'taps', 'name', 'version', 'description', 'opset', 'norm', 'gsd', 'percentile-target', 'external-data', 'threads'] as const) {
    const v = values[flag];
    if (v !== undefined) args.push(`--${flag}`, v);
  }
  if (values.default) args.push('--default');
  if (values['test-fixture']) args.push('--test-fixture');
  const python = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
  const code = await new Promise<number>((done, fail) => {
    const child = spawn(python, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, PYTHONPATH: REPO_ROOT } });
    child.on('error', (err) => fail(new Error(`cannot run ${python} (set FORESTMAP_PYTHON to a Python with torch and onnx): ${err.message}`)));
    child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0)));
  });
  if (code !== 0) return code === 2 ? 2 : 1;
  // The TS side validates what Python wrote: a manifest the server cannot load is a failed conversion.
  const m = await loadManifest(out);
  process.stdout.write(`${m.name}: ${m.onnxPath}\nstart the server with it: FORESTMAP_MODEL=${out} npm start\n`);
  return 0;
}
