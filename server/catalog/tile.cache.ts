/**
 * Rendered tiles on disk (varDir/tiles/<id>/<version>/...) with a small in-memory LRU in front.
 * Keys include the raster's version, so a replaced raster can never serve a stale tile; the
 * catalog's 'change' events also delete the raster's folder. An empty tile (nothing to draw) is
 * cached as a zero-byte file. Concurrent requests for one missing tile share one render.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Catalog } from './catalog.ts';
import { assertValidId } from './ids.ts';

export interface TileKey {
  id: string;
  version: string;
  z: number;
  x: number;
  y: number;
  /** Everything else that changes the bytes (size, format, style), as a path-safe string. */
  variant: string;
  ext: string;
}

/** What a cache lookup yields: the encoded tile, or null for "nothing there" (HTTP 204). */
export type CachedTile = Buffer | null;

const SAFE = /^[A-Za-z0-9@._-]{1,120}$/;

export class TileCache {
  private readonly memory = new Map<string, CachedTile>();
  private memoryBytes = 0;
  private readonly inflight = new Map<string, Promise<CachedTile>>();

  constructor(readonly dir: string, private readonly maxMemoryBytes = 64 * 1024 * 1024) {}

  /** Drop a raster's tiles whenever the catalog replaces or removes it. */
  watch(catalog: Catalog): this {
    catalog.on('change', (e) => {
      if (e.type !== 'added') void this.invalidate(e.entry.id);
    });
    return this;
  }

  private pathOf(k: TileKey): string {
    assertValidId(k.id);
    if (!SAFE.test(k.version) || !SAFE.test(k.variant) || !/^[a-z0-9]{1,8}$/.test(k.ext)) throw new Error('unsafe tile cache key');
    return join(this.dir, k.id, k.version, String(k.z), String(k.x), `${k.y}${k.variant}.${k.ext}`);
  }

  private remember(path: string, tile: CachedTile): void {
    const prev = this.memory.get(path);
    if (prev !== undefined) {
      this.memory.delete(path);
      this.memoryBytes -= prev?.length ?? 0;
    }
    this.memory.set(path, tile);
    this.memoryBytes += tile?.length ?? 0;
    while (this.memoryBytes > this.maxMemoryBytes || this.memory.size > 100_000) {
      const [oldest, value] = this.memory.entries().next().value!;
      this.memory.delete(oldest);
      this.memoryBytes -= value?.length ?? 0;
    }
  }

  /** The cached tile, or undefined when it is not cached. */
  async get(k: TileKey): Promise<CachedTile | undefined> {
    const path = this.pathOf(k);
    const hit = this.memory.get(path);
    if (hit !== undefined) {
      this.memory.delete(path);
      this.memory.set(path, hit);
      return hit;
    }
    try {
      const data = await readFile(path);
      const tile = data.length ? data : null;
      this.remember(path, tile);
      return tile;
    } catch {
      return undefined;
    }
  }

  async put(k: TileKey, tile: CachedTile): Promise<void> {
    const path = this.pathOf(k);
    this.remember(path, tile);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, tile ?? Buffer.alloc(0));
    await rename(tmp, path);
  }

  /** Cached tile, or render + store it; concurrent callers for one key share a render. */
  async getOrRender(k: TileKey, render: () => Promise<CachedTile>): Promise<{ tile: CachedTile; cached: boolean }> {
    const cached = await this.get(k);
    if (cached !== undefined) return { tile: cached, cached: true };
    const path = this.pathOf(k);
    let pending = this.inflight.get(path);
    if (!pending) {
      pending = (async () => {
        const tile = await render();
        await this.put(k, tile).catch((err) => console.warn(`[tiles] cache write failed: ${err instanceof Error ? err.message : err}`));
        return tile;
      })();
      this.inflight.set(path, pending);
      pending.finally(() => this.inflight.delete(path)).catch(() => undefined);
    }
    return { tile: await pending, cached: false };
  }

  async invalidate(id: string): Promise<void> {
    const prefix = join(this.dir, assertValidId(id)) + '/';
    for (const key of [...this.memory.keys()]) {
      if (key.startsWith(prefix)) {
        this.memoryBytes -= this.memory.get(key)?.length ?? 0;
        this.memory.delete(key);
      }
    }
    // a render finishing meanwhile may recreate folders: retry, and never let this reject
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await rm(join(this.dir, id), { recursive: true, force: true, maxRetries: 2 });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}
