/**
 * One process at a time in a folder: a server's VAR_DIR (its job database, uploads, results) or a
 * `forestmap process` run's work folder. Two servers on one VAR_DIR would both resume the same jobs
 * and write the same result files, and one would delete the other's uploads in progress as
 * leftovers of a crash.
 *
 * The lock is an exclusive SQLite transaction held open on `<dir>/<name>.lock`: SQLite takes it
 * with the operating system's file locks, which the kernel releases when the process ends however it
 * ends (kill -9 included), so a crashed server never leaves a stale lock, and no process ids need
 * guessing. The holder's process id is written beside it, for the message the next one gives.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConflictError } from './errors.ts';

export interface FolderLock {
  release(): void;
}

/**
 * Locks `dir` for this process, or throws a ConflictError saying that `label` (how the user named
 * the folder, e.g. "VAR_DIR /srv/fm") is in use by `holder` and its process id. Released by
 * release() or when the process ends.
 */
export function lockFolder(dir: string, name: string, label: string, holder: string): FolderLock {
  const lockPath = join(dir, `${name}.lock`), pidPath = join(dir, `${name}.pid`);
  const db = new Database(lockPath, { timeout: 0 });
  try {
    // exclusive locking mode keeps the lock from BEGIN until the connection closes
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    let pid = '';
    try {
      pid = readFileSync(pidPath, 'utf8').trim();
    } catch {
      // written just after the lock is taken: the holder may not have got that far
    }
    throw new ConflictError(`${label} is in use by ${holder}${/^\d+$/.test(pid) ? ` (process ${pid})` : ''}: stop it first, or use another folder`);
  }
  writeFileSync(pidPath, `${process.pid}\n`);
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(pidPath, { force: true });
      db.close();
    },
  };
}
