/**
 * Creating the folders a user names (--out, VAR_DIR, a worker's --units). Node's recursive mkdir
 * never returns where a parent exists but refuses children with ENOENT (anything under /proc: its
 * walk goes back up and down forever); this creates each missing folder on its own, so every
 * failure is final and reported.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** `mkdir -p`: the folder and any missing parents; an existing folder is fine, anything else in the way is an error. */
export function makeDirectory(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    let kind: 'dir' | 'other' | 'none';
    try {
      kind = statSync(p).isDirectory() ? 'dir' : 'other';
    } catch {
      kind = 'none';
    }
    if (kind === 'dir') break;
    // something else in the way fails below with the OS's reason: EEXIST for the folder itself,
    // ENOTDIR for a folder under it
    if (kind === 'other') {
      if (!missing.length) missing.push(p);
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (err) {
      // made meanwhile by someone else: fine when it is a folder
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) continue;
      throw err;
    }
  }
}
