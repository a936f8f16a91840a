import { parseFlags } from './args.ts';
import { scanModels, defaultModel } from '../model/registry.ts';
import type { LoadedManifest } from '../model/manifest.ts';

export const usage = `forestmap models [--json]

Lists the available models: every models/<id>/manifest.json in the repository plus the model
directories (or folders of them) in FORESTMAP_MODELS (colon-separated). '*' marks the default model
(FORESTMAP_MODEL, else the manifest marked "default": true). Test fixtures are labelled and are
never the default.`;

function row(m: LoadedManifest, isDefault: boolean): string[] {
  return [
    isDefault ? '*' : ' ',
    m.name,
    m.version,
    m.architecture,
    `${m.input.gsd}`,
    `${m.tiling.tileSize}/${m.tiling.stride}`,
    m.license,
    m.testFixture ? 'TEST FIXTURE (random weights, not a canopy height model)' : '',
    m.dir,
  ];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { json: { type: 'boolean', default: false } });
  const { models, broken } = await scanModels();
  let def: LoadedManifest | null = null;
  let defError: string | null = null;
  try {
    def = await defaultModel();
  } catch (err) {
    defError = err instanceof Error ? err.message : String(err);
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ default: def?.name ?? null, defaultError: defError, models, broken }, null, 2) + '\n');
    return 0;
  }
  const rows = [['', 'name', 'version', 'architecture', 'gsd m', 'tile/stride', 'license', 'kind', 'path']];
  for (const m of models) rows.push(row(m, def !== null && def.onnxPath === m.onnxPath));
  if (def && !models.some((m) => m.onnxPath === def!.onnxPath)) rows.push(row(def, true));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd() + '\n');
  if (defError) process.stdout.write(`\ndefault: none (${defError})\n`);
  for (const b of broken) process.stdout.write(`\nbroken: ${b.dir}: ${b.error}\n`);
  return 0;
}
