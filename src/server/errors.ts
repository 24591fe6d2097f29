/**
 * Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with the status
 * the official clients map to their exception classes (400 BadRequestError, 401
 * AuthenticationError, 404 NotFoundError, 413, 429 RateLimitError, 503). Source: the OpenAI
 * API reference, "Error codes", and the openai-node client's `APIError.generate`. OpenAI answers
 * its own 401s and 404s (unknown model, unknown URL) with `invalid_request_error`, and so do ours,
 * the RAG passage route's included.
 */
export type ErrorType = 'invalid_request_error' | 'rate_limit_error' | 'server_error' | 'service_unavailable';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Extra response headers (Retry-After on 429 and 503). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the offending request field. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}
