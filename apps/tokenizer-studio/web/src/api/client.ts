// Thin fetch wrapper for the Tokenizer Studio API: JSON in/out, credentials, plain-words errors.
import { apiUrl, CREDENTIALS } from './config';
import { ApiError, errorFromBody, networkError } from './errors';
import type {
  AppLogs,
  AppLogsQuery,
  ClearedCaches,
  ComputeCheck,
  Dataset,
  DatasetPreview,
  Job,
  LogPage,
  NewJob,
  SessionState,
  StorageInfo,
  SystemInfo,
  Template,
  TryResult,
} from './types';

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Lets the app switch to the "open it from the app" screen when any call answers 401. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function reportUnauthorized(): void {
  unauthorizedListeners.forEach((listener) => listener());
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** When false a 401 is returned to the caller without switching screens. */
  notifyUnauthorized?: boolean;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, notifyUnauthorized = true } = options;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: CREDENTIALS,
      cache: 'no-store',
    });
  } catch {
    throw networkError();
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    const error = errorFromBody(response.status, text);
    if (response.status === 401 && notifyUnauthorized) reportUnauthorized();
    throw error;
  }
  if (response.status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, 'bad_response', 'The service sent an answer this page cannot read.');
  }
}

const enc = encodeURIComponent;

export const api = {
  getSession: () => request<SessionState>('/session', { notifyUnauthorized: false }),
  openSession: (code: string) =>
    request<void>('/session', { method: 'POST', body: { code }, notifyUnauthorized: false }),

  listTemplates: () => request<Template[]>('/templates'),

  listDatasets: () => request<Dataset[]>('/datasets'),
  previewDataset: (id: string, limit = 20) =>
    request<DatasetPreview>(`/datasets/${enc(id)}/preview?limit=${limit}`),
  setTextColumn: (id: string, textColumn: string) =>
    request<Dataset>(`/datasets/${enc(id)}`, { method: 'PATCH', body: { text_column: textColumn } }),
  deleteDataset: (id: string) => request<void>(`/datasets/${enc(id)}`, { method: 'DELETE' }),

  listJobs: () => request<Job[]>('/jobs'),
  getJob: (id: string) => request<Job>(`/jobs/${enc(id)}`),
  createJob: (job: NewJob) => request<Job>('/jobs', { method: 'POST', body: job }),
  cancelJob: (id: string) => request<Job>(`/jobs/${enc(id)}/cancel`, { method: 'POST' }),
  deleteJob: (id: string) => request<void>(`/jobs/${enc(id)}`, { method: 'DELETE' }),
  jobLogs: (id: string, after: number) => request<LogPage>(`/jobs/${enc(id)}/logs?after=${after}`),
  tryTokenizer: (id: string, text: string) =>
    request<TryResult>(`/jobs/${enc(id)}/try`, { method: 'POST', body: { text } }),

  getSystem: () => request<SystemInfo>('/system'),
  getStorage: () => request<StorageInfo>('/system/storage'),
  clearCaches: () => request<ClearedCaches>('/system/clear-caches', { method: 'POST' }),
  computeCheck: () => request<ComputeCheck>('/system/compute-check', { method: 'POST' }),
  appLogs: (query: AppLogsQuery) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    return request<AppLogs>(`/logs?${params}`);
  },
};

export function artifactUrl(jobId: string): string {
  return apiUrl(`/jobs/${enc(jobId)}/artifact`);
}

/** The tokenizer as a zip that Hugging Face transformers loads with AutoTokenizer. */
export function exportUrl(jobId: string): string {
  return apiUrl(`/jobs/${enc(jobId)}/export`);
}

/** A zip of logs and facts (no names, contents or secrets) to send when asking for help. */
export function diagnosticsUrl(): string {
  return apiUrl('/diagnostics');
}
