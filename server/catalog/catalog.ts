/**
 * The raster catalog: every GeoTIFF the server knows, by id. Rasters come from the data folder
 * (scanned at start), from uploads (streamed under varDir/uploads) and from other stages
 * registering files they wrote (computed CHMs under varDir). Each entry carries a `version` that
 * changes with the file's size/mtime; a 'change' event tells caches (tiles, CHMs, trees) to drop
 * what they hold for a raster that was replaced or removed.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, InvalidInputError, NotFoundError, UnreadableRasterError } from '../errors.ts';
import { evictRaster, notTiffReason, openRaster, type RasterSource } from '../raster/source.ts';
import type { RasterMetadata } from '../raster/metadata.ts';
import { fileVersion } from '../raster/file.version.ts';
import { assertValidId, isInside, slugFromFilename, uniqueId } from './ids.ts';
import { streamToFile } from './upload.ts';

export type RasterRole = 'image' | 'chm';

export interface CatalogEntry {
  id: string;
  /** Display name (the file name). */
  name: string;
  path: string;
  role: RasterRole;
  /** Changes whenever the file's content changes (size + mtime); use it to key caches. */
  version: string;
  metadata: RasterMetadata;
  /** Where the raster came from: the data folder, an upload, or a file another stage registered. */
  origin: 'data' | 'upload' | 'derived';
  /** The raster this one was computed from (a CHM's image), when known. */
  sourceId: string | null;
}

export interface CatalogChange {
  type: 'added' | 'replaced' | 'removed';
  entry: CatalogEntry;
}

export interface CatalogOptions {
  dataDir: string;
  varDir: string;
  maxUploadBytes: number;
  /**
   * How long (ms) a file's size/mtime check stays trusted before source() stats it again
   * (default 1000): keeps cached tiles free of file-system calls under load.
   */
  recheckMs?: number;
}

export interface RegisterOptions {
  id?: string;
  role?: RasterRole;
  sourceId?: string | null;
}

const TIFF_EXT = /\.tiff?$/i;
/**
 * Beside each upload, `<id>.upload.json` keeps what the stored file name cannot: the name it was
 * uploaded under and its role. Without it a restart would infer the role from `<id>.tif` (an upload
 * named site_chm.tif stored under ?id=plot1, or sent with ?role=chm, would come back as imagery).
 */
const UPLOAD_INFO_EXT = '.upload.json';

interface UploadInfo {
  name: string;
  role: RasterRole;
}

/** How deep the data folder scan descends. */
const SCAN_DEPTH = 3;

function roleFor(path: string, metadata: RasterMetadata, requested?: RasterRole): RasterRole {
  // trees would be "found" in the first band of an image asked to be a CHM
  if (requested === 'chm' && metadata.bandCount !== 1) {
    throw new InvalidInputError(`${basename(path)} has ${metadata.bandCount} bands; a CHM (role 'chm') is one band of heights. Imagery is registered as role 'image', and its canopy height is computed from it`);
  }
  if (requested) return requested;
  // a scaled integer band (centimetres x 0.01) holds heights as a float band does
  const float = metadata.sampleType === 'float32' || metadata.sampleType === 'float64' || metadata.bandScaling !== null;
  return metadata.bandCount === 1 && float && /chm/i.test(basename(path)) ? 'chm' : 'image';
}

/** An upload's refusal under the name the user uploaded it as (the reason names the spool file). */
function uploadRefusal(err: unknown, spool: string, name: string): unknown {
  if (!(err instanceof UnreadableRasterError)) return err;
  const notTiff = (err.details as { reason?: unknown } | undefined)?.reason === 'not a TIFF file' ? notTiffReason(spool, name) : null;
  if (notTiff) return new UnreadableRasterError(`${name}: not a TIFF file: ${notTiff}`, { reason: 'not a TIFF file' });
  return new UnreadableRasterError(err.message.replace(basename(spool), name), err.details);
}

export class Catalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private readonly events = new EventEmitter();
  /** Ids of uploads in progress, so two concurrent uploads of one file name get distinct ids. */
  private readonly pending = new Set<string>();
  /** Last verified version per id, with its open source. */
  private readonly verified = new Map<string, { at: number; version: string; source: Promise<RasterSource> }>();
  /** Files in the data folder that could not be read at start, with the reason. */
  readonly skipped: Array<{ path: string; error: string }> = [];
  readonly uploadsDir: string;

  private constructor(readonly options: CatalogOptions) {
    this.uploadsDir = join(options.varDir, 'uploads');
  }

  static async open(options: CatalogOptions): Promise<Catalog> {
    const catalog = new Catalog({ ...options, dataDir: resolve(options.dataDir), varDir: resolve(options.varDir) });
    await mkdir(catalog.uploadsDir, { recursive: true });
    // uploads cut off by a crash or restart leave their temporary file behind
    for (const name of await readdir(catalog.uploadsDir)) {
      if (name.startsWith('.upload-')) await rm(join(catalog.uploadsDir, name), { force: true });
    }
    await catalog.scan(catalog.options.dataDir, 'data', SCAN_DEPTH);
    await catalog.scan(catalog.uploadsDir, 'upload', 1);
    return catalog;
  }

  private async scan(dir: string, origin: CatalogEntry['origin'], depth: number): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return; // a missing data folder is an empty catalog
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => null);
      if (!info) continue;
      if (info.isDirectory()) {
        if (depth > 1 && !(origin === 'data' && isInside(this.options.varDir, path)) && path !== this.options.varDir) await this.scan(path, origin, depth - 1);
        continue;
      }
      if (!TIFF_EXT.test(name)) continue;
      try {
        if (origin === 'upload') await this.addUpload(path, slugFromFilename(name));
        else await this.add(path, { id: uniqueId(slugFromFilename(name), (x) => this.entries.has(x)) }, origin);
      } catch (err) {
        this.skipped.push({ path, error: err instanceof Error ? err.message : String(err) });
        console.warn(`[catalog] skipped ${path}: ${err instanceof Error ? err.message : err}`);
      }
    }
  }

  /** An upload found at start, with the name and role it was uploaded with when its record is readable. */
  private async addUpload(path: string, id: string): Promise<void> {
    const info = await this.readUploadInfo(id);
    if (info) {
      try {
        await this.add(path, { id, role: info.role, name: info.name }, 'upload');
        return;
      } catch (err) {
        // a record that no longer fits its file (replaced by hand): the file is still the user's
        if (!(err instanceof InvalidInputError)) throw err;
        console.warn(`[catalog] ${basename(this.uploadInfoPath(id))} does not fit ${basename(path)} (${err.message}); inferring its role`);
      }
    }
    await this.add(path, { id }, 'upload');
  }

  private uploadInfoPath(id: string): string {
    return join(this.uploadsDir, `${id}${UPLOAD_INFO_EXT}`);
  }

  private async readUploadInfo(id: string): Promise<UploadInfo | null> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.uploadInfoPath(id), 'utf8'));
    } catch {
      return null; // none (an upload from before these records, or a crash before it was written) or unreadable
    }
    const p = parsed as Partial<UploadInfo> | null;
    if (typeof p?.name !== 'string' || (p.role !== 'image' && p.role !== 'chm')) return null;
    return { name: p.name, role: p.role };
  }

  private async writeUploadInfo(id: string, info: UploadInfo): Promise<void> {
    const tmp = join(this.uploadsDir, `.upload-${randomBytes(6).toString('hex')}.json`);
    await writeFile(tmp, JSON.stringify(info));
    await rename(tmp, this.uploadInfoPath(id));
  }

  on(event: 'change', listener: (e: CatalogChange) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: 'change', listener: (e: CatalogChange) => void): this {
    this.events.off(event, listener);
    return this;
  }

  list(): CatalogEntry[] {
    return [...this.entries.values()];
  }

  /**
   * The files skipped at start, named as the user knows them (within the data folder, or
   * uploads/<name>), not by the server's absolute paths, with the reason each could not be read.
   */
  skippedFiles(): Array<{ file: string; reason: string }> {
    return this.skipped.map(({ path, error }) => ({
      file: isInside(this.options.dataDir, path) ? relative(this.options.dataDir, path) : isInside(this.uploadsDir, path) ? `uploads/${basename(path)}` : basename(path),
      reason: error,
    }));
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get(id: string): CatalogEntry {
    const entry = typeof id === 'string' ? this.entries.get(id) : undefined;
    if (!entry) throw new NotFoundError(`no raster with id '${String(id).slice(0, 80)}'`, { id });
    return entry;
  }

  /**
   * Register a GeoTIFF already on disk, inside the data folder or varDir (computed rasters).
   * Validates it first; an existing id is replaced (a 'replaced' event).
   */
  async register(path: string, opts: RegisterOptions = {}): Promise<CatalogEntry> {
    const abs = resolve(path);
    const real = await realpath(abs).catch(() => abs);
    const roots = [this.options.dataDir, this.options.varDir];
    const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
    if (!roots.some((r) => isInside(r, abs)) || !realRoots.some((r) => isInside(r, real))) {
      throw new InvalidInputError(`refusing to register '${basename(path)}': rasters must lie inside the data folder or the var folder`);
    }
    const id = opts.id !== undefined ? assertValidId(opts.id) : uniqueId(slugFromFilename(path), (x) => this.entries.has(x));
    const origin = isInside(this.uploadsDir, abs) ? 'upload' : isInside(this.options.dataDir, abs) ? 'data' : 'derived';
    return this.add(abs, { ...opts, id }, origin);
  }

  private async add(path: string, opts: RegisterOptions & { id: string; name?: string }, origin: CatalogEntry['origin']): Promise<CatalogEntry> {
    const source = await openRaster(path);
    // the jobs layer compares it with fileVersion now, to tell a replaced raster
    const version = fileVersion(path);
    if (version === null) throw new UnreadableRasterError(`${basename(path)}: no such file`, { reason: 'missing' });
    const entry: CatalogEntry = {
      id: opts.id,
      name: opts.name ?? basename(path),
      path,
      role: roleFor(path, source.metadata, opts.role),
      version,
      metadata: source.metadata,
      origin,
      sourceId: opts.sourceId ?? null,
    };
    const previous = this.entries.get(entry.id);
    this.entries.set(entry.id, entry);
    this.verified.delete(entry.id);
    if (previous && previous.path !== path) evictRaster(previous.path);
    this.events.emit('change', { type: previous ? 'replaced' : 'added', entry } satisfies CatalogChange);
    return entry;
  }

  /**
   * Stream an upload to disk (size-limited), validate it as a GeoTIFF, then register it. With an
   * `id` naming an earlier upload, that upload is replaced; data-folder rasters cannot be.
   */
  async upload(stream: Readable, filename: string, opts: RegisterOptions = {}): Promise<CatalogEntry> {
    if (typeof filename !== 'string' || filename.length > 255) throw new InvalidInputError('upload needs a file name');
    let id: string;
    if (opts.id !== undefined) {
      id = assertValidId(opts.id);
      const existing = this.entries.get(id);
      if (existing && existing.origin !== 'upload') throw new ConflictError(`raster '${id}' comes from the data folder and cannot be replaced by an upload`);
    } else {
      id = uniqueId(slugFromFilename(filename), (x) => this.entries.has(x) || this.pending.has(x));
    }
    if (this.pending.has(id)) throw new ConflictError(`an upload to '${id}' is already in progress`);
    this.pending.add(id);
    try {
      const tmp = join(this.uploadsDir, `.upload-${randomBytes(6).toString('hex')}.tif`);
      await streamToFile(stream, tmp, this.options.maxUploadBytes);
      const final = join(this.uploadsDir, `${id}.tif`);
      let info: UploadInfo;
      try {
        const source = await openRaster(tmp); // validation: throws UnreadableRasterError with the reason
        // a role the file cannot have is refused before the file replaces anything; the name the
        // user gave decides the inferred role, not the id it is stored under
        info = { name: basename(filename), role: roleFor(filename, source.metadata, opts.role) };
      } catch (err) {
        const refusal = uploadRefusal(err, tmp, basename(filename)); // reads the spool file: before it goes
        evictRaster(tmp);
        await rm(tmp, { force: true });
        throw refusal;
      }
      evictRaster(tmp);
      evictRaster(final);
      // the previous upload's record goes first: a crash before the new one is written leaves a file
      // whose role is inferred again, never one described by another file's record
      await rm(this.uploadInfoPath(id), { force: true });
      await rename(tmp, final);
      await this.writeUploadInfo(id, info);
      return await this.add(final, { ...opts, id, role: info.role, name: info.name }, 'upload');
    } finally {
      this.pending.delete(id);
    }
  }

  /** Forget a raster; an uploaded file is deleted, a data-folder file is left alone. */
  async remove(id: string): Promise<CatalogEntry> {
    const entry = this.get(id);
    this.entries.delete(id);
    this.verified.delete(id);
    evictRaster(entry.path);
    if (entry.origin === 'upload' && isInside(this.uploadsDir, entry.path)) {
      await rm(entry.path, { force: true });
      await rm(this.uploadInfoPath(id), { force: true });
    }
    this.events.emit('change', { type: 'removed', entry } satisfies CatalogChange);
    return entry;
  }

  /**
   * The open raster for an id. If the file changed on disk since it was registered, the entry is
   * refreshed (new version, metadata) and a 'replaced' event fires first.
   */
  async source(id: string): Promise<RasterSource> {
    const entry = this.get(id);
    const seen = this.verified.get(id);
    if (seen && seen.version === entry.version && Date.now() - seen.at < (this.options.recheckMs ?? 1000)) return seen.source;
    const version = fileVersion(entry.path);
    if (version === null) throw new NotFoundError(`raster '${id}' is no longer on disk`, { id });
    if (version !== entry.version) {
      await this.add(entry.path, { id, role: entry.role, sourceId: entry.sourceId, name: entry.name }, entry.origin);
    }
    const current = this.get(id);
    const source = openRaster(current.path);
    this.verified.set(id, { at: Date.now(), version: current.version, source });
    source.catch(() => this.verified.delete(id));
    return source;
  }

  /** The entry, refreshed when its file changed on disk (see source()). */
  async current(id: string): Promise<CatalogEntry> {
    await this.source(id);
    return this.get(id);
  }
}
