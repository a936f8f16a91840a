// Worker threads do not inherit tsx's loader: register it, then load the TypeScript entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
// before the entry loads, so its start-up runs at the priority its work will (thread.priority.ts)
if (workerData.lowerPriority > 0) (await import('./thread.priority.ts')).lowerThreadPriority(workerData.lowerPriority);
await import(workerData.entry);
