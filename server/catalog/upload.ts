/**
 * Streams an upload to a file, counting bytes: past the limit the write stops and the partial
 * file is removed, so a failed upload leaves nothing behind. The input stream is left open (not
 * destroyed) so the HTTP layer can still discard the rest of the body and answer with a 413.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InvalidInputError, LimitExceededError } from '../errors.ts';

export function streamToFile(input: Readable, path: string, maxBytes: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const out = createWriteStream(path, { flags: 'wx' });
    let bytes = 0;
    let settled = false;
    const detach = () => {
      input.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      detach();
      out.destroy();
      rm(path, { force: true }).then(() => reject(err), () => reject(err));
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        fail(new LimitExceededError(`upload exceeds the limit of ${maxBytes} bytes`, { maxBytes }));
        return;
      }
      if (!out.write(chunk)) {
        input.pause();
        out.once('drain', () => {
          if (!settled) input.resume();
        });
      }
    };
    const onEnd = () => {
      if (settled) return;
      settled = true;
      detach();
      out.end(() => resolve(bytes));
    };
    const onError = (err: unknown) => fail(err);
    const onClose = () => fail(new InvalidInputError('upload aborted before it was complete'));
    out.on('error', onError);
    input.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
