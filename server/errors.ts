/**
 * Domain errors. They say what is wrong in words a user understands and know nothing of HTTP;
 * server/http/errors.ts maps each kind to a status code in one table.
 */
export class DomainError extends Error {
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
  }
}
/** The input is malformed or impossible (HTTP 400). */
export class InvalidInputError extends DomainError {}
/** A thing the request names does not exist (HTTP 404). */
export class NotFoundError extends DomainError {}
/** The input is well-formed but exceeds a configured bound (HTTP 413). */
export class LimitExceededError extends DomainError {}
/** The request is valid but cannot be handled in the current state (HTTP 409). */
export class ConflictError extends DomainError {}
/** Too many jobs in flight (HTTP 429). */
export class BusyError extends DomainError {}
/** The file is not a raster we can read: not a TIFF, corrupt, truncated, ungeoreferenced (HTTP 422). */
export class UnreadableRasterError extends DomainError {}
/** Work was cancelled by its owner. */
export class CancelledError extends DomainError {
  constructor(message = 'cancelled') {
    super(message);
  }
}
