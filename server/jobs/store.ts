/**
 * The durable job store: jobs, their tile work units, and the cache of finished unit results, in
 * one SQLite file (better-sqlite3, WAL). Every state change is one short transaction, so a process
 * killed at any instant (kill -9) leaves a consistent database: a unit counts as done only after
 * its output file exists (the queue renames the file into place, then records it here).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';

export type JobStatus = 'accepted' | 'running' | 'successful' | 'failed' | 'dismissed';
export const ACTIVE_STATUSES: readonly JobStatus[] = ['accepted', 'running'];
export const JOB_STATUSES: readonly JobStatus[] = ['accepted', 'running', 'successful', 'failed', 'dismissed'];

function statusFilter(statuses?: readonly JobStatus[]): [string, JobStatus[]] {
  return statuses ? [`WHERE status IN (${statuses.map(() => '?').join(',') || 'NULL'})`, [...statuses]] : ['', []];
}

export interface JobRecord {
  id: string;
  process: string;
  status: JobStatus;
  /** 0-100. */
  progress: number;
  message: string;
  inputs: unknown;
  /** Summary written when the job succeeds (statistics and output names). */
  result: unknown | null;
  created: string;
  started: string | null;
  updated: string;
  finished: string | null;
}

interface JobRow {
  id: string; process: string; status: JobStatus; progress: number; message: string; inputs: string;
  result: string | null; created: string; started: string | null; updated: string; finished: string | null;
}

export type JobPatch = Partial<Pick<JobRecord, 'status' | 'progress' | 'message' | 'result' | 'started' | 'finished'>>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  process TEXT NOT NULL,
  status TEXT NOT NULL,
  progress REAL NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  inputs TEXT NOT NULL,
  result TEXT,
  created TEXT NOT NULL,
  started TEXT,
  updated TEXT NOT NULL,
  finished TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS units (
  job_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  key TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS unit_results (
  key TEXT PRIMARY KEY,
  path TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unit_results_path ON unit_results (path);
`;

export class JobStore {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  createJob(process: string, inputs: unknown, status: JobStatus = 'accepted'): JobRecord {
    const now = new Date().toISOString();
    const id = randomUUID();
    this.db.prepare('INSERT INTO jobs (id, process, status, progress, message, inputs, created, updated) VALUES (?, ?, ?, 0, ?, ?, ?, ?)')
      .run(id, process, status, 'queued', JSON.stringify(inputs), now, now);
    return this.getJob(id)!;
  }

  getJob(id: string): JobRecord | null {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toRecord(row) : null;
  }

  /** Newest first. */
  /** Jobs newest first; `statuses` (when given) keeps those in one of them. */
  listJobs(limit = 100, offset = 0, statuses?: readonly JobStatus[]): JobRecord[] {
    const [where, args] = statusFilter(statuses);
    const rows = this.db.prepare(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT ? OFFSET ?`).all(...args, limit, offset) as JobRow[];
    return rows.map(toRecord);
  }

  countJobs(statuses?: readonly JobStatus[]): number {
    const [where, args] = statusFilter(statuses);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(...args) as { n: number }).n;
  }

  /** Jobs in the given statuses, oldest first. */
  jobsWithStatus(statuses: readonly JobStatus[]): JobRecord[] {
    const rows = this.db.prepare(`SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY seq`).all(...statuses) as JobRow[];
    return rows.map(toRecord);
  }

  countWithStatus(statuses: readonly JobStatus[]): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status IN (${statuses.map(() => '?').join(',')})`).get(...statuses) as { n: number }).n;
  }

  /** Finished jobs (successful, failed, dismissed) whose `finished` time is before `iso`, oldest first. */
  finishedBefore(iso: string): JobRecord[] {
    const rows = this.db.prepare("SELECT * FROM jobs WHERE status IN ('successful', 'failed', 'dismissed') AND finished IS NOT NULL AND finished < ? ORDER BY seq").all(iso) as JobRow[];
    return rows.map(toRecord);
  }

  /**
   * Removes a job and its unit lists: its own and its stages' (`<id>/<stage>`, as the pipeline runs
   * them). Unit results stay: they are a cache shared by every job.
   */
  deleteJob(id: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM units WHERE job_id = ? OR job_id LIKE ? ESCAPE '\\'").run(id, `${likeEscaped(id)}/%`);
      this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
    })();
  }

  /** Keys of the units of accepted and running jobs (and of their stages): what an eviction must keep. */
  activeUnitKeys(): Set<string> {
    const keys = new Set<string>();
    const query = this.db.prepare("SELECT key FROM units WHERE job_id = ? OR job_id LIKE ? ESCAPE '\\'");
    for (const job of this.jobsWithStatus(ACTIVE_STATUSES)) {
      for (const row of query.all(job.id, `${likeEscaped(job.id)}/%`) as { key: string }[]) keys.add(row.key);
    }
    return keys;
  }

  updateJob(id: string, patch: JobPatch): void {
    const sets: string[] = ['updated = ?'];
    const values: unknown[] = [new Date().toISOString()];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      sets.push(`${k} = ?`);
      values.push(k === 'result' ? JSON.stringify(v) : v);
    }
    this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
  }

  /**
   * Moves a job to `to` only when it is currently in one of `from`; false when it was not (for
   * example a cancel that raced the job's completion).
   */
  transition(id: string, from: readonly JobStatus[], to: JobStatus, patch: JobPatch = {}): boolean {
    const tx = this.db.transaction(() => {
      const row = this.db.prepare('SELECT status FROM jobs WHERE id = ?').get(id) as { status: JobStatus } | undefined;
      if (!row || !from.includes(row.status)) return false;
      this.updateJob(id, { ...patch, status: to });
      return true;
    });
    return tx();
  }

  /** Records a job's units (idempotent: a resumed job re-plans the same units and keeps their done flags). */
  putUnits(jobId: string, keys: readonly string[]): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO units (job_id, idx, key) VALUES (?, ?, ?)');
    this.db.transaction(() => keys.forEach((key, idx) => insert.run(jobId, idx, key)))();
  }

  markUnitDone(jobId: string, idx: number): void {
    this.db.prepare('UPDATE units SET done = 1 WHERE job_id = ? AND idx = ?').run(jobId, idx);
  }

  unitProgress(jobId: string): { done: number; total: number } {
    return this.db.prepare('SELECT COALESCE(SUM(done), 0) AS done, COUNT(*) AS total FROM units WHERE job_id = ?').get(jobId) as { done: number; total: number };
  }

  doneUnits(jobId: string): Set<number> {
    const rows = this.db.prepare('SELECT idx FROM units WHERE job_id = ? AND done = 1').all(jobId) as { idx: number }[];
    return new Set(rows.map((r) => r.idx));
  }

  unitResult(key: string): string | null {
    const row = this.db.prepare('SELECT path FROM unit_results WHERE key = ?').get(key) as { path: string } | undefined;
    return row?.path ?? null;
  }

  recordUnitResult(key: string, path: string): void {
    this.db.prepare('INSERT OR REPLACE INTO unit_results (key, path, created) VALUES (?, ?, ?)').run(key, path, new Date().toISOString());
  }

  /** Drops every recorded unit result whose key starts with `prefix`; returns their paths. */
  forgetUnitResultsWithPrefix(prefix: string): string[] {
    const pattern = likeEscaped(prefix) + '%';
    const rows = this.db.prepare("SELECT path FROM unit_results WHERE key LIKE ? ESCAPE '\\'").all(pattern) as { path: string }[];
    this.db.prepare("DELETE FROM unit_results WHERE key LIKE ? ESCAPE '\\'").run(pattern);
    return rows.map((r) => r.path);
  }

  forgetUnitResult(key: string): void {
    this.db.prepare('DELETE FROM unit_results WHERE key = ?').run(key);
  }

  /** Drops the records of unit results stored at these paths (their files were evicted). */
  forgetUnitResultsAt(paths: readonly string[]): void {
    const del = this.db.prepare('DELETE FROM unit_results WHERE path = ?');
    this.db.transaction(() => paths.forEach((p) => del.run(p)))();
  }
}

/** A string matched literally by LIKE ... ESCAPE '\'. */
function likeEscaped(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    process: row.process,
    status: row.status,
    progress: row.progress,
    message: row.message,
    inputs: JSON.parse(row.inputs),
    result: row.result ? JSON.parse(row.result) : null,
    created: row.created,
    started: row.started,
    updated: row.updated,
    finished: row.finished,
  };
}
