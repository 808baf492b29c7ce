// Job detail: live status, phase and progress, cancel, delete, error, metrics, log and the artifact.
// An imported tokenizer has no training to follow: no phase, progress or log, only the tokenizer.
// A job that ended without a tokenizer says so where the phase was, with no progress bar; a
// failed one leads with its sentence and keeps the technical log under "Show details".
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import { isActive } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';
import { ProgressBar } from '../../components/ProgressBar';
import { StatusBadge } from '../../components/StatusBadge';
import { formatDate, formatElapsed } from '../../format';
import { HelpSection } from '../../components/HelpSection';
import { helpAnchorFor } from '../../troubleshooting';
import { ArtifactPanel } from '../artifact/ArtifactPanel';
import { JobLogs } from './JobLogs';
import { JobMetrics } from './JobMetrics';
import { isImported } from './imported';
import { endedEarly, phaseText } from './phase';
import { useJobFeed } from './useJobFeed';

/** Time from `start` to `end`, or to now (ticking every second) while `end` is unset; in whole
 * seconds, as precise as the engine's timestamps. */
function Elapsed({ start, end }: { start: string | null; end: string | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!start || end) return undefined;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [start, end]);
  if (!start) return <>—</>;
  const until = end ? Date.parse(end) : now;
  return <>{formatElapsed((until - Date.parse(start)) / 1000)}</>;
}

interface Props {
  jobId: string;
  onBack: () => void;
}

export function JobDetail({ jobId, onBack }: Props) {
  const { job, lines, error, setJob } = useJobFeed(jobId);
  const [cancelling, setCancelling] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const remove = async () => {
    setDeleting(true);
    setActionError(null);
    try {
      await api.deleteJob(jobId);
      onBack();
    } catch (err) {
      setActionError(messageOf(err));
      setDeleting(false);
      setConfirmingDelete(false);
    }
  };

  const cancel = async () => {
    setCancelling(true);
    setActionError(null);
    try {
      setJob(await api.cancelJob(jobId));
    } catch (err) {
      setActionError(messageOf(err));
    } finally {
      setCancelling(false);
    }
  };

  const back = (
    <button type="button" className="link-button" onClick={onBack} data-testid="back-to-jobs">
      ← All jobs
    </button>
  );

  if (!job) {
    return (
      <div className="screen" data-testid="job-detail">
        {back}
        <ErrorMessage message={error} />
        {!error && <p className="muted" role="status">Loading…</p>}
      </div>
    );
  }

  const active = isActive(job);
  const imported = isImported(job);

  return (
    <div className="screen" data-testid="job-detail" data-job-id={job.id}>
      {back}
      <div className="screen-head">
        <h1 data-testid="job-title">{job.name || job.id}</h1>
        <StatusBadge status={job.status} testId="job-status" />
      </div>
      <section className="card" aria-labelledby="progress-title">
        <h2 id="progress-title" className="visually-hidden">
          {imported ? 'Source' : 'Progress'}
        </h2>
        {!imported && (
          <>
            <p className="phase" data-testid="job-phase" data-phase={job.phase} aria-live="polite">
              {phaseText(job)}
            </p>
            {/* A bar stopped part-way reads as work still going on: an ended job has none. */}
            {!endedEarly(job) && (
              <ProgressBar
                value={job.progress}
                label="Training progress"
                testId="job-progress"
                tone={job.status === 'succeeded' ? 'success' : 'normal'}
              />
            )}
          </>
        )}
        {imported ? (
          <dl className="facts compact">
            <div>
              <dt>Source</dt>
              <dd data-testid="job-template">Imported tokenizer.json</dd>
            </div>
            <div>
              <dt>Imported</dt>
              <dd>{formatDate(job.created_at)}</dd>
            </div>
          </dl>
        ) : (
          <dl className="facts compact">
            <div>
              <dt>Template</dt>
              <dd data-testid="job-template">{job.template}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{formatDate(job.created_at)}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{formatDate(job.finished_at)}</dd>
            </div>
            <div>
              <dt>{job.finished_at ? 'Took' : 'Running for'}</dt>
              <dd data-testid="job-elapsed">
                <Elapsed start={job.started_at} end={job.finished_at} />
              </dd>
            </div>
          </dl>
        )}
        {job.error && (
          <p className="error" role="alert" data-testid="job-error">
            {job.error}
          </p>
        )}
        {job.status === 'failed' && <HelpSection anchor={helpAnchorFor(job.error ?? '')} />}
        <ErrorMessage message={actionError ?? error} />
        {active && (
          <button
            type="button"
            className="button danger"
            disabled={cancelling}
            data-testid="cancel-job"
            onClick={() => void cancel()}
          >
            {cancelling ? 'Cancelling…' : 'Cancel job'}
          </button>
        )}
        {!active &&
          (confirmingDelete ? (
            <p className="confirm" data-testid="confirm-delete-job-prompt">
              {imported
                ? 'Delete this imported tokenizer from this computer?'
                : `Delete this job${job.artifact ? ' and its trained tokenizer' : ''} from this computer?`}{' '}
              <button
                type="button"
                className="button danger"
                disabled={deleting}
                data-testid="confirm-delete-job"
                onClick={() => void remove()}
              >
                {deleting ? 'Deleting…' : 'Really delete'}
              </button>{' '}
              <button type="button" className="button" disabled={deleting} onClick={() => setConfirmingDelete(false)}>
                Keep
              </button>
            </p>
          ) : (
            <button type="button" className="button" data-testid="delete-job" onClick={() => setConfirmingDelete(true)}>
              {imported ? 'Delete tokenizer' : 'Delete job'}
            </button>
          ))}
      </section>
      {job.status === 'succeeded' && job.artifact && <ArtifactPanel job={job} />}
      <JobMetrics metrics={job.metrics} />
      {!imported && <JobLogs lines={lines} collapsed={job.status === 'failed'} />}
    </div>
  );
}
