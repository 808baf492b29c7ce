// Types of the JSON objects exchanged with the Tokenizer Studio HTTP API (see ../../API.md).

export interface Dataset {
  id: string;
  name: string;
  format: string;
  size_bytes: number;
  sha256: string;
  columns: string[] | null;
  text_column: string | null;
  n_rows: number | null;
  created_at: string;
}

export interface DatasetPreview {
  rows: string[];
}

export type ConfigValue = string | number | boolean | string[] | null;
export type TrainingConfig = Record<string, ConfigValue>;

export interface Template {
  id: string;
  name: string;
  description: string;
  model: string;
  defaults: TrainingConfig;
  knobs: string[];
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export type JobPhase = 'queued' | 'reading' | 'training' | 'saving' | 'done';

export interface JobMetrics {
  vocab_size?: number;
  n_input_bytes?: number;
  n_input_rows?: number;
  duration_s?: number;
  avg_tokens_per_word?: number;
  [key: string]: unknown;
}

export interface Artifact {
  path: string;
  size_bytes: number;
  sha256: string;
}

export interface Job {
  id: string;
  name: string;
  template: string;
  dataset_ids: string[];
  config: TrainingConfig;
  status: JobStatus;
  phase: JobPhase;
  progress: number;
  error: string | null;
  metrics: JobMetrics | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  artifact: Artifact | null;
}

export interface LogLine {
  seq: number;
  ts: string;
  message: string;
}

export interface LogPage {
  lines: LogLine[];
  next: number;
}

export interface TryResult {
  tokens: string[];
  ids: number[];
  decoded: string;
}

export interface SessionState {
  authenticated: boolean;
  token_required: boolean;
}

export interface NewJob {
  name?: string;
  template: string;
  dataset_ids: string[];
  overrides: TrainingConfig;
}

export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running'];

export function isActive(job: Pick<Job, 'status'>): boolean {
  return ACTIVE_STATUSES.includes(job.status);
}
