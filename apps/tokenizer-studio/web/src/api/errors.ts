// The error type every API call throws, with plain-words messages taken from the engine.
import type { ErrorResponse, FieldProblem } from './types';

type ErrorBody = ErrorResponse['error'];

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldProblem[];

  constructor(status: number, code: string, message: string, fields: FieldProblem[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const GENERIC_BY_STATUS: Record<number, string> = {
  401: 'This page must be opened from the Tokenizer Studio app.',
  403: 'The Tokenizer Studio service refused this request.',
  404: 'That item no longer exists.',
  409: 'That action is not possible right now.',
  413: 'The file is too large.',
  415: 'That file type is not supported.',
  422: 'Some of the values are not valid.',
};

function describeStatus(status: number): string {
  if (GENERIC_BY_STATUS[status]) return GENERIC_BY_STATUS[status];
  if (status >= 500) return 'The Tokenizer Studio service ran into a problem. Please try again.';
  return `The request failed (status ${status}).`;
}

function asText(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/**
 * The `details` of the error envelope (`ErrorBody` in schema.d.ts): one problem per field. The
 * body is still checked, not trusted: it may come from something that is not the engine.
 */
function parseDetails(details: ErrorBody['details']): FieldProblem[] {
  if (!Array.isArray(details)) return [];
  return details.flatMap((item: unknown): FieldProblem[] => {
    const record = item && typeof item === 'object' ? (item as Record<string, unknown>) : {};
    const message = asText(record.message);
    return message ? [{ field: asText(record.field) ?? '', message }] : [];
  });
}

/** Builds an ApiError from a status and a response body that may or may not be JSON. */
export function errorFromBody(status: number, bodyText: string): ApiError {
  try {
    const parsed: unknown = JSON.parse(bodyText);
    const error = (parsed as Partial<ErrorResponse> | null)?.error;
    if (error && typeof error === 'object') {
      const code = asText(error.code) ?? `http_${status}`;
      const message = asText(error.message) ?? describeStatus(status);
      return new ApiError(status, code, message, parseDetails(error.details));
    }
  } catch {
    // Not JSON (a proxy page or an empty body): fall back to a generic message below.
  }
  return new ApiError(status, `http_${status}`, describeStatus(status));
}

export const NETWORK_ERROR_MESSAGE =
  'Cannot reach the Tokenizer Studio service. Check that the app is still running, then try again.';

export function networkError(): ApiError {
  return new ApiError(0, 'network_error', NETWORK_ERROR_MESSAGE);
}

/** Plain words for anything caught in a component: never a stack trace. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return 'Something went wrong. Please try again.';
}
