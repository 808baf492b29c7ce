// Build-time API settings: base URL from VITE_API_BASE and the fetch credentials mode.

const rawBase: string = import.meta.env.VITE_API_BASE ?? '/api/v1';

/** API base without a trailing slash, e.g. "/api/v1" or "http://127.0.0.1:8000/api/v1". */
export const API_BASE = rawBase.replace(/\/+$/, '');

/** Same origin in production (the engine serves the UI); the dev server is another origin. */
export const CREDENTIALS: RequestCredentials = import.meta.env.PROD ? 'same-origin' : 'include';

export function apiUrl(path: string): string {
  return `${API_BASE}${path.startsWith('/') ? path : `/${path}`}`;
}
