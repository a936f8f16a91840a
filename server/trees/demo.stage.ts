/**
 * Demo stage: waits for the trees service (which starts by itself when a CHM is registered) to
 * finish the demo's predicted CHM, logging its progress, so the log says when the map is complete.
 */
import type { DemoStage } from '../demo.ts';
import { treeServiceFor } from '../http/routes/trees.ts';

const POLL_MS = 1000;
const LOG_EVERY_MS = 5000;

export const treesDemoStage: DemoStage = {
  name: 'trees',
  async run(ctx, _demo, entries, log) {
    const service = treeServiceFor(ctx);
    const chm = service.chmFor(entries.image.id);
    let lastLog = 0;
    for (;;) {
      const status = service.status(chm.id);
      if (status?.state === 'done') {
        log(`${status.trees} trees with crowns in '${chm.id}'`);
        return;
      }
      if (status?.state === 'failed') throw new Error(status.error ?? 'tree detection failed');
      if (status && Date.now() - lastLog >= LOG_EVERY_MS) {
        lastLog = Date.now();
        log(`${Math.round(status.progress * 100)}% (${status.state})`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  },
};
