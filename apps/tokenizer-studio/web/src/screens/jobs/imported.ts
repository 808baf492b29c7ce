// Tokenizers imported as a tokenizer.json: jobs with the template `imported`, succeeded from the
// start, with no datasets, no training config and nothing to follow while they run.
import type { Job } from '../../api/types';

export const IMPORTED_TEMPLATE = 'imported';

export function isImported(job: Pick<Job, 'template'>): boolean {
  return job.template === IMPORTED_TEMPLATE;
}

/** What the jobs list and the detail show for where the tokenizer comes from. */
export function templateLabel(job: Pick<Job, 'template'>): string {
  return isImported(job) ? 'Imported' : job.template;
}
