// Launch hand-off: read `#launch=<code>` once, drop it from history, trade it for the session cookie.
import { api } from './api/client';
import { ApiError, messageOf } from './api/errors';

export type SessionOutcome =
  | { kind: 'ready' }
  | { kind: 'unauthorized'; detail: string | null }
  | { kind: 'unreachable'; message: string };

/** Takes the launch code out of the URL fragment and removes it from the address bar and history. */
export function takeLaunchCode(): string | null {
  const fragment = window.location.hash.replace(/^#/, '');
  if (!fragment) return null;
  const params = new URLSearchParams(fragment);
  const code = params.get('launch');
  if (code === null) return null;
  params.delete('launch');
  const rest = params.toString();
  const cleanUrl = `${window.location.pathname}${window.location.search}${rest ? `#${rest}` : ''}`;
  window.history.replaceState(window.history.state, '', cleanUrl);
  return code.trim() || null;
}

let capturedCode: string | null = null;

/** Called once before the first render, so the code leaves the address bar at once. */
export function captureLaunchCode(): void {
  capturedCode = takeLaunchCode() ?? capturedCode;
}

async function establish(): Promise<SessionOutcome> {
  const code = takeLaunchCode() ?? capturedCode;
  capturedCode = null;
  try {
    if (code) {
      try {
        await api.openSession(code);
      } catch (error) {
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          // The code may be used or expired; a cookie from an earlier hand-off may still be valid.
          const state = await api.getSession();
          if (state.authenticated || !state.token_required) return { kind: 'ready' };
          return { kind: 'unauthorized', detail: error.message };
        }
        throw error;
      }
    }
    const state = await api.getSession();
    if (state.token_required && !state.authenticated) return { kind: 'unauthorized', detail: null };
    return { kind: 'ready' };
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return { kind: 'unauthorized', detail: null };
    return { kind: 'unreachable', message: messageOf(error) };
  }
}

let pending: Promise<SessionOutcome> | null = null;

/** Runs the hand-off once per page load (a launch code is single-use). */
export function establishSession(): Promise<SessionOutcome> {
  if (!pending) pending = establish();
  return pending;
}

/** Forgets a failed attempt so "Try again" can ask the service once more. */
export function resetSession(): void {
  pending = null;
}
