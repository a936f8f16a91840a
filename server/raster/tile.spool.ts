/**
 * A COG level's compressed tiles, in the order they were made, until the file is assembled: in
 * memory while the writer's levels together hold less than their budget, in a file past it. A
 * region's CHM (about 10 MB per km²) then goes to the disk once instead of three times (spool,
 * read back, output), and a country-sized one still stays within bounded memory.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** Bytes the spools of one writer may hold in memory, together. */
export class SpoolBudget {
  constructor(public left: number) {}
}

/** In-memory tiles are copied into slabs of this size: zlib's output is a view of a buffer as large as the input tile. */
const SLAB_BYTES = 1 << 20;

export class TileSpool {
  /** Bytes appended so far. */
  size = 0;
  private slabs: Buffer[] | null = [];
  /** Bytes used in the last slab. */
  private used = 0;
  private file: FileHandle | null = null;

  constructor(private readonly path: string, private readonly budget: SpoolBudget) {}

  /** Appends `parts` (their bytes end to end). */
  async append(parts: readonly Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const b of parts) bytes += b.length;
    if (this.slabs && bytes <= this.budget.left) {
      this.budget.left -= bytes;
      for (const b of parts) this.copyIn(b);
      this.size += bytes;
      return;
    }
    if (!this.file) await this.spill();
    await writeAll(this.file!, parts, this.size);
    this.size += bytes;
  }

  /** Writes the spool's bytes into `out` from `position`. */
  async copyTo(out: FileHandle, position: number): Promise<void> {
    if (this.slabs) {
      await writeAll(out, this.memoryParts(), position);
      return;
    }
    const src = this.file!;
    const chunk = Buffer.alloc(Math.min(4 << 20, Math.max(1, this.size)));
    for (let at = 0; at < this.size;) {
      const { bytesRead } = await src.read(chunk, 0, Math.min(chunk.length, this.size - at), at);
      if (bytesRead === 0) throw new Error(`COG spool ${this.path} is truncated`);
      await out.write(chunk, 0, bytesRead, position + at);
      at += bytesRead;
    }
  }

  /** Whether the tiles went to the spool's file (tests). */
  get spilled(): boolean {
    return this.file !== null;
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = null;
    this.slabs = null;
    await file?.close();
  }

  private copyIn(b: Uint8Array): void {
    const slabs = this.slabs!;
    let from = 0;
    while (from < b.length) {
      if (slabs.length === 0 || this.used === SLAB_BYTES) {
        slabs.push(Buffer.allocUnsafe(SLAB_BYTES));
        this.used = 0;
      }
      const n = Math.min(b.length - from, SLAB_BYTES - this.used);
      slabs[slabs.length - 1].set(b.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
    }
  }

  private memoryParts(): Uint8Array[] {
    const slabs = this.slabs!;
    return slabs.map((s, i) => (i === slabs.length - 1 ? s.subarray(0, this.used) : s));
  }

  /** Past the budget: what is held in memory goes to the file, and so does everything after. */
  private async spill(): Promise<void> {
    this.file = await open(this.path, 'w+');
    if (this.size) await writeAll(this.file, this.memoryParts(), 0);
    this.budget.left += this.size;
    this.slabs = null;
  }
}

/** Gathered write of `parts` at `position`, carrying on after short writes. */
async function writeAll(file: FileHandle, parts: readonly Uint8Array[], position: number): Promise<void> {
  let rest = parts;
  while (rest.length) {
    // writev takes at most IOV_MAX (1024) buffers per call
    const batch = rest.slice(0, 1024);
    const total = batch.reduce((s, b) => s + b.length, 0);
    let { bytesWritten } = await file.writev(batch, position);
    position += bytesWritten;
    if (bytesWritten === total) {
      rest = rest.slice(batch.length);
      continue;
    }
    // short write: drop what was written, keep the rest of a partly written buffer
    const left: Uint8Array[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        left.push(bytesWritten ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    rest = left;
  }
}
