import express from 'express';

/**
 * A JSON body parser for any content type (clients often omit it, and a posted file comes as
 * text/plain or nothing), its byte limit read on first use: the job service that sets it starts
 * lazily. A body over the limit is a 413, one that is not JSON a 400 (http/errors.ts).
 */
export function jsonBodyOfAnyType(limitBytes: () => number): express.RequestHandler {
  let parser: express.RequestHandler | null = null;
  return (req, res, next) => {
    parser ??= express.json({ limit: limitBytes(), type: () => true });
    parser(req, res, next);
  };
}
