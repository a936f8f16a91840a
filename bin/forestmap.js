#!/usr/bin/env -S node --initial-old-space-size=128 --no-memory-reducer-for-small-heaps
// The CLI runs the TypeScript sources directly through tsx, so `npm install` needs no build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../server/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
