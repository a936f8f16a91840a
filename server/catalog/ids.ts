/**
 * Raster ids are safe slugs (lowercase letters, digits, '-', '_'), so an id can never name a path
 * outside the catalog's folders, and paths are checked to stay inside their root.
 */
import { basename, extname, relative, resolve, isAbsolute } from 'node:path';
import { InvalidInputError } from '../errors.ts';

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function isValidId(id: string): boolean {
  return ID.test(id);
}

/** Throws InvalidInputError unless `id` is a safe slug. */
export function assertValidId(id: string): string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new InvalidInputError(`invalid raster id '${String(id).slice(0, 80)}': use 1-64 lowercase letters, digits, '-' or '_'`);
  }
  return id;
}

/** A slug from a file name: 'My Ortho (2019).tif' -> 'my-ortho-2019'. */
export function slugFromFilename(filename: string): string {
  const stem = basename(filename, extname(filename));
  const slug = stem.normalize('NFKD').toLowerCase().replace(/[^a-z0-9_]+/g, '-').replace(/^[-_]+|-+$/g, '').slice(0, 56);
  return slug || 'raster';
}

/** A slug not yet in `taken`, adding -2, -3, ... when needed. */
export function uniqueId(base: string, taken: (id: string) => boolean): string {
  if (!taken(base)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base.slice(0, 58)}-${i}`;
    if (!taken(candidate)) return candidate;
  }
}

/** True when `path` lies inside `root` (after resolving '..'). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
