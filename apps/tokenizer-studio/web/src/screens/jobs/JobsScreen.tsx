// Jobs screen: every training job and imported tokenizer with its status; refreshes while any
// job is still active. A tokenizer.json can be imported from here.
import { useCallback, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import { isActive, type Job } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';
import { ProgressBar } from '../../components/ProgressBar';
import { StatusBadge } from '../../components/StatusBadge';
import { formatDate } from '../../format';
import { usePolling } from '../../usePolling';
import { ImportTokenizer } from './ImportTokenizer';
import { isImported, templateLabel } from './imported';
import { endedEarly, phaseText } from './phase';

interface Props {
  onOpen: (id: string) => void;
  onNew: () => void;
}

export function JobsScreen({ onOpen, onNew }: Props) {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [importError, setImportError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setJobs(await api.listJobs());
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setLoaded(true);
    }
  }, []);

  const anyActive = !loaded || (jobs ?? []).some(isActive);
  usePolling(load, 2000, anyActive);

  return (
    <div className="screen" data-testid="jobs-screen">
      <div className="screen-head">
        <h1>Jobs</h1>
        <div className="actions">
          <ImportTokenizer onImported={(job) => onOpen(job.id)} onError={setImportError} />
          <button type="button" className="button primary" onClick={onNew}>
            New training
          </button>
        </div>
      </div>
      <ErrorMessage message={importError} testId="import-error" onDismiss={() => setImportError(null)} />
      <ErrorMessage message={error} />
      {jobs === null && !error && <p className="muted" role="status">Loading…</p>}
      {jobs !== null && jobs.length === 0 && (
        <p className="muted" data-testid="no-jobs">No training jobs yet. Start a training, or import a tokenizer.json.</p>
      )}
      {jobs !== null && jobs.length > 0 && (
        <div className="card table-wrap">
          <table className="table" data-testid="job-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Template</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.id} data-testid="job-row" data-job-id={job.id}>
                  <th scope="row">
                    <button type="button" className="link-button" data-testid="open-job" onClick={() => onOpen(job.id)}>
                      {job.name || job.id}
                    </button>
                  </th>
                  <td data-testid="job-row-template">{templateLabel(job)}</td>
                  <td>
                    <StatusBadge status={job.status} testId="job-row-status" />
                  </td>
                  <td className="cell-progress">
                    {/* An imported tokenizer was never trained here: no progress to show. A job
                        that ended without a tokenizer says when it ended, with no bar. */}
                    {isImported(job) ? (
                      <span className="muted">—</span>
                    ) : endedEarly(job) ? (
                      <span className="muted" data-testid="job-row-ended">
                        {phaseText(job)}
                      </span>
                    ) : (
                      <ProgressBar value={job.progress} label={`Progress of ${job.name || job.id}`} />
                    )}
                  </td>
                  <td>{formatDate(job.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
