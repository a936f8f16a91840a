import type { ErrorRequestHandler } from 'express';
import { STATUS_CODES } from 'node:http';
import {
  BusyError, CancelledError, ConflictError, DomainError, InvalidInputError, LimitExceededError,
  NotFoundError, UnreadableRasterError,
} from '../errors.ts';

/** The single table from domain error to HTTP status. Anything not listed is a 500 and is logged. */
const statusOf: Array<[new (...a: any[]) => DomainError, number]> = [
  [InvalidInputError, 400],
  [NotFoundError, 404],
  [ConflictError, 409],
  [LimitExceededError, 413],
  [UnreadableRasterError, 422],
  [BusyError, 429],
  [CancelledError, 409],
];

export function httpStatus(err: unknown): number {
  for (const [kind, status] of statusOf) if (err instanceof kind) return status;
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  // body-parser and express raise errors carrying a 4xx status (bad JSON, body too large)
  if (typeof status === 'number' && status >= 400 && status < 500) return status;
  return 500;
}

export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = httpStatus(err);
  if (status >= 500) console.error('[http] internal error', err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = status >= 500 ? 'internal server error' : bodyParseMessage(err) ?? (err as Error).message;
  const { type, ...details } = (err instanceof DomainError ? err.details : undefined) ?? {};
  // error and status for our own clients; type, title and detail are the exception document of
  // OGC API (RFC 7807), which its clients read
  res.status(status).json({
    error: message, status, type: typeof type === 'string' ? type : 'about:blank', title: STATUS_CODES[status] ?? 'Error', detail: message,
    ...(Object.keys(details).length ? { details } : {}),
  });
};

/**
 * body-parser's JSON errors say what JSON.parse said, which for a valid JSON value that is not an
 * object or array (strict mode: `null`, `42`, a string) wrongly reads "is not valid JSON".
 */
function bodyParseMessage(err: unknown): string | null {
  const e = err as { type?: unknown; body?: unknown; message?: unknown };
  if (e?.type !== 'entity.parse.failed' || typeof e.body !== 'string') return null;
  const text = e.body.trim();
  if (text !== '' && !'{['.includes(text[0])) {
    try {
      JSON.parse(text);
      return 'the request body must be a JSON object';
    } catch {
      // not JSON at all: JSON.parse's own words below
    }
  }
  return `the request body is not valid JSON: ${String(e.message)}`;
}
