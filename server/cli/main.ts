/**
 * `forestmap <command>`: the route table of the command line. Each command lives in its own
 * module exporting `run(argv): Promise<number>` (the exit code) and `usage`.
 */
export interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  serve: () => import('./serve.ts'),
  info: () => import('./info.ts'),
  scene: () => import('./scene.ts'),
  models: () => import('./models.ts'),
  convert: () => import('./convert.ts'),
  canopy: () => import('./canopy.ts'),
  trees: () => import('./trees.ts'),
  chm: () => import('./chm.ts'),
  'eval-crowns': () => import('./eval.crowns.ts'),
  process: () => import('./process.ts'),
  worker: () => import('./worker.ts'),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`forestmap <command> [options]\n\ncommands: ${Object.keys(commands).join(', ')}\n`);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`forestmap: unknown command '${name}'. Commands: ${Object.keys(commands).join(', ')}\n`);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`forestmap ${name}: ${err.message}\n\n${command.usage}\n`);
      return 2;
    }
    process.stderr.write(`forestmap ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}
