import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './main.ts';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean; multiple?: boolean }>;

/** Strict flag parsing shared by every command: unknown flags are a UsageError, not ignored. */
export function parseFlags<T extends OptionSpec>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A numeric flag: rejects values that are not finite numbers in [min, max]. */
export function numberFlag(value: string | undefined, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in [${min}, ${max}], got '${value}'`);
  return n;
}

export function requireFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * A flag naming a file to write: checked before any work is done, so that a mistyped folder fails
 * at once rather than after minutes of inference. The file's folder must exist and be writable;
 * the path itself must not be a folder.
 */
export function outputFileFlag(value: string | undefined, name: string): string {
  const path = requireFlag(value, name);
  const abs = resolve(path), dir = dirname(abs);
  if (statSync(abs, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--${name} ${path} is a folder: name the file to write in it`);
  const folder = statSync(dir, { throwIfNoEntry: false });
  if (!folder) throw new UsageError(`--${name} ${path}: there is no folder ${dir}`);
  if (!folder.isDirectory()) throw new UsageError(`--${name} ${path}: ${dir} is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--${name} ${path}: the folder ${dir} is not writable`);
  }
  return path;
}
