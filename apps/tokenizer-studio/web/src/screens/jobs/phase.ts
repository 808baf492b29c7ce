// What a job is doing, or for a job that ended without a tokenizer, what it was doing when it
// ended: "Training the tokenizer" while it runs, "Failed while training the tokenizer" after.
import type { Job, JobPhase, JobStatus } from '../../api/types';

const DOING: Record<JobPhase, string> = {
  queued: 'Waiting to start',
  reading: 'Reading the datasets',
  training: 'Training the tokenizer',
  saving: 'Saving the tokenizer',
  done: 'Done',
};

const ENDED: Partial<Record<JobStatus, string>> = {
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

/** True for a job that stopped before it had a tokenizer: failed, cancelled or interrupted. */
export function endedEarly(job: Pick<Job, 'status'>): boolean {
  return ENDED[job.status] !== undefined;
}

export function phaseText(job: Pick<Job, 'status' | 'phase'>): string {
  const doing = DOING[job.phase] ?? job.phase;
  const ended = ENDED[job.status];
  if (!ended) return doing;
  if (job.phase === 'queued') return `${ended} before it started`;
  if (job.phase === 'done') return ended;
  return `${ended} while ${doing.charAt(0).toLowerCase()}${doing.slice(1)}`;
}
