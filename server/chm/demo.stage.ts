/**
 * Demo stage: canopy height for the demo image with the default model, so a newcomer's first
 * `npm start` ends in a predicted CHM (and, through the trees service, a tree-by-tree map).
 */
import type { DemoStage } from '../demo.ts';
import { chmServiceFor } from './service.ts';

const PROGRESS_EVERY_MS = 5000;

export const canopyDemoStage: DemoStage = {
  name: 'canopy height',
  async run(ctx, _demo, entries, log) {
    const { service, restored } = chmServiceFor(ctx);
    await restored;
    const id = entries.image.id;
    let status = await service.start(id);
    log(`model ${status.model.name} ${status.model.version}`);
    if (status.state === 'running') {
      const timer = setInterval(() => {
        const p = service.status(id)?.progress;
        if (p) log(`${p.done}/${p.total} tiles${p.etaSeconds === null ? '' : `, about ${Math.round(p.etaSeconds)} s left`}`);
      }, PROGRESS_EVERY_MS);
      try {
        status = (await service.settled(id)) ?? status;
      } finally {
        clearInterval(timer);
      }
    }
    if (status.state !== 'done') throw new Error(status.error ?? `canopy height ${status.state}`);
    log(`'${status.chmId}' ready${status.cached ? ' (from cache)' : ''}`);
  },
};
