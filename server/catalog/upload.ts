/**
 * Streams an upload to a temporary file beside its destination, counting bytes: past the limit
 * the write stops and the partial file is removed, so a failed upload leaves nothing behind.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LimitExceededError } from '../errors.ts';

export async function streamToFile(input: Readable, path: string, maxBytes: number): Promise<number> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) done(new LimitExceededError(`upload exceeds the limit of ${maxBytes} bytes`, { maxBytes }));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(input, counter, createWriteStream(path, { flags: 'wx' }));
  } catch (err) {
    await rm(path, { force: true });
    input.resume(); // drain what the client still sends so the response can be delivered
    throw err;
  }
  return bytes;
}
