/**
 * A job's GeoJSON output file: features go through the shared RFC 7946 writer
 * (server/features/geojson.ts: WGS84, 7 decimals, winding, streamed with backpressure) into a
 * temp file that is renamed into place when complete, so a reader never sees half a file and a
 * large export is never one string in memory.
 */
import { createWriteStream, openSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { FeatureCollectionWriter } from '../features/geojson.ts';
import type { JsonBytes } from '../features/json.bytes.ts';

export class GeoJsonFileWriter {
  private readonly tmp: string;
  private readonly stream: WriteStream;
  private readonly writer: FeatureCollectionWriter;
  private done = false;
  /** Features written, once finish() has closed the collection. */
  featureCount = 0;

  constructor(readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    // opened here, not by the stream later: abandon() may come at once (the job's trees stage
    // fails while its first rows are awaited), and a file the stream opened after the removal
    // would stay behind
    this.stream = createWriteStream(this.tmp, { fd: openSync(this.tmp, 'w') });
    this.writer = new FeatureCollectionWriter(this.stream);
  }

  /** Adds the feature `write` puts into the bytes, unless it returns false. */
  add(write: (out: JsonBytes) => boolean): Promise<void> {
    return this.writer.add(write);
  }

  /** Closes the collection and moves the file into place; returns its path. */
  async finish(): Promise<string> {
    this.featureCount = await this.writer.end();
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
    renameSync(this.tmp, this.path);
    this.done = true;
    return this.path;
  }

  /** Drops an unfinished file (no-op after finish). */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    this.stream.destroy();
    rmSync(this.tmp, { force: true });
  }
}
