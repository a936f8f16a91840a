import { resolve } from 'node:path';
import { parseFlags, numberFlag, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { DEFAULT_UNIT_QUEUE, redisConnection, startUnitWorker, withTimeout } from '../jobs/bullmq.queue.ts';
import { unitResultPath } from '../jobs/queue.ts';
import { defaultResources, executeUnit, unitKindConcurrency, type UnitSpec } from '../jobs/units.ts';
import { releaseInferenceRunners } from '../chm/inference.runner.ts';
import { releaseDetectionPool } from '../trees/detect.pool.ts';

export const usage = `forestmap worker --redis redis://HOST[:PORT][/DB] --units DIR [--kinds chm,trees] [--concurrency N] [--queue NAME] [--prefix P]

Runs forest-map work units (canopy height blocks, trees tiles) from a BullMQ queue in Redis, for a
server started with JOBS_QUEUE=bullmq and the same REDIS_URL (docs/scale-out.md). Start one per
machine; each uses its cores for the model and for tree detection.
--units: the shared folder of unit outputs, the server's VAR_DIR/units (NFS or another shared
mount; the raster paths in the units must resolve on this machine too).
--kinds: which units this worker takes (default both): e.g. chm on machines with a GPU or many
cores, trees anywhere.
--concurrency: canopy height blocks at once (default 1: a block already uses every core); trees
tiles run one more than the cores at once (their detection uses a thread per core).
Stops on SIGINT/SIGTERM after the units it is running.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    redis: { type: 'string' },
    units: { type: 'string' },
    concurrency: { type: 'string' },
    queue: { type: 'string' },
    prefix: { type: 'string' },
    kinds: { type: 'string' },
  });
  let connection;
  try {
    connection = redisConnection(requireFlag(values.redis, 'redis'));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const resultDir = resolve(requireFlag(values.units, 'units'));
  const concurrency = Math.round(numberFlag(values.concurrency, 'concurrency', 1, 1, 64));
  const all = unitKindConcurrency(concurrency);
  const wanted = (values.kinds ?? Object.keys(all).join(',')).split(',').map((k) => k.trim()).filter(Boolean);
  const unknown = wanted.filter((k) => !(k in all));
  if (unknown.length || !wanted.length) throw new UsageError(`--kinds takes a comma-separated list of ${Object.keys(all).join(', ')}; got '${values.kinds}'`);
  const kinds = Object.fromEntries(wanted.map((k) => [k, all[k as keyof typeof all]]));
  const queueName = values.queue ?? DEFAULT_UNIT_QUEUE;
  const resources = defaultResources((key) => unitResultPath(resultDir, key));
  const w = startUnitWorker<UnitSpec>({
    connection, resultDir, kinds, queueName, prefix: values.prefix,
    execute: (unit, out, signal, progress) => executeUnit(unit, out, signal, resources, progress),
    onUnit: (key, s) => process.stderr.write(`[worker ${process.pid}] ${key} ${s.toFixed(1)} s\n`),
  });
  try {
    await withTimeout(w.waitUntilReady(), 10_000, `cannot reach Redis at ${values.redis}`);
  } catch (err) {
    await w.close(true).catch(() => undefined);
    throw err;
  }
  process.stderr.write(`[worker ${process.pid}] waiting for ${wanted.join(' and ')} units on ${queueName} (outputs in ${resultDir})\n`);
  await new Promise<void>((done) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); done(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await w.close();
  await releaseInferenceRunners();
  await releaseDetectionPool();
  return 0;
}
