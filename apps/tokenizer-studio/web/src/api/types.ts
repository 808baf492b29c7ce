// Names for the JSON objects of the Tokenizer Studio HTTP API (see ../../API.md). Their shapes
// are generated from the engine's OpenAPI schema into schema.d.ts (`npm run gen:api`), so a
// change of a response model shows up here as a type error, not as a surprise at run time.
import type { components, operations } from './schema';

type Schemas = components['schemas'];

export type Dataset = Schemas['Dataset'];
export type DatasetPreview = Schemas['DatasetPreview'];

export type TrainingConfig = Schemas['TrainingConfig'];
export type ConfigValue = TrainingConfig[keyof TrainingConfig];
/** Config values by key, for code that walks a template's knobs by name. */
export type ConfigValues = Record<string, ConfigValue>;

export type Template = Schemas['Template'];

export type JobStatus = Schemas['JobStatus'];
export type JobPhase = Schemas['JobPhase'];
export type JobMetrics = Schemas['JobMetrics'];
export type Artifact = Schemas['Artifact'];
export type Job = Schemas['Job'];
export type LogLine = Schemas['LogLine'];
export type LogPage = Schemas['LogPage'];
export type TryResult = Schemas['TryResult'];
export type SessionState = Schemas['SessionState'];
export type SystemInfo = Schemas['SystemInfo'];
export type StorageInfo = Schemas['StorageInfo'];
export type ClearedCaches = Schemas['ClearedCaches'];
export type DeviceFacts = Schemas['DeviceFacts'];
export type ComputeCheck = Schemas['ComputeCheck'];
export type AppLogLine = Schemas['AppLogLine'];
export type AppLogs = Schemas['AppLogs'];
export type AppLogsQuery = NonNullable<operations['get_logs']['parameters']['query']>;
/** The body of POST /jobs: `overrides` holds only the knobs that differ from the defaults. */
export type NewJob = Omit<Schemas['JobCreate'], 'overrides'> & { overrides: ConfigValues };

export type ErrorResponse = Schemas['ErrorResponse'];
export type FieldProblem = Schemas['FieldProblem'];

export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running'];

export function isActive(job: Pick<Job, 'status'>): boolean {
  return ACTIVE_STATUSES.includes(job.status);
}
