import type { Page } from 'playwright-core';

export type Rgb = [number, number, number];

/**
 * The map canvas colour at a WGS84 point, averaged over a 3 x 3 pixel block. Reads the WebGL
 * canvas (the map keeps its drawing buffer), so HTML on top of the map does not interfere.
 */
export async function mapPixel(page: Page, lon: number, lat: number): Promise<Rgb> {
  return page.evaluate(([lon, lat]) => {
    const map = (window as any).forestmap.map;
    const canvas = map.getCanvas() as HTMLCanvasElement;
    const p = map.project([lon, lat]);
    const scale = canvas.width / canvas.clientWidth;
    const c = document.createElement('canvas');
    c.width = canvas.width;
    c.height = canvas.height;
    const g = c.getContext('2d')!;
    g.drawImage(canvas, 0, 0);
    const x = Math.round(p.x * scale), y = Math.round(p.y * scale);
    const d = g.getImageData(x - 1, y - 1, 3, 3).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < 9; i++) for (let k = 0; k < 3; k++) sum[k] += d[i * 4 + k];
    return sum.map((v) => Math.round(v / 9));
  }, [lon, lat]) as Promise<Rgb>;
}

/** Waits until the server has computed the trees of a CHM (its trees endpoint answers with features). */
export async function waitForTrees(baseUrl: string, chmId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await fetch(`${baseUrl}/api/rasters/${encodeURIComponent(chmId)}/trees?geometry=point&limit=1&bbox=-180,-85,180,85`).catch(() => null);
    if (res?.ok) {
      const body = (await res.json()) as { features?: unknown[] };
      if (body.features?.length) return;
      last = 'no features yet';
    } else last = res ? `${res.status} ${await res.text()}` : 'no answer';
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the trees of ${chmId} were not ready within ${timeoutMs} ms (${last})`);
}
