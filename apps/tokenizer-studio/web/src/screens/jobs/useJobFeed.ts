// Hook that follows one job: polls it and its new log lines every 500 ms while it is queued/running.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../../api/client';
import { ApiError, messageOf } from '../../api/errors';
import { isActive, type Job, type LogLine } from '../../api/types';
import { usePolling } from '../../usePolling';

export const POLL_MS = 500;

export interface JobFeed {
  job: Job | null;
  lines: LogLine[];
  error: string | null;
  setJob: (job: Job) => void;
}

export function useJobFeed(jobId: string): JobFeed {
  const [job, setJob] = useState<Job | null>(null);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const lastSeq = useRef(0);

  useEffect(() => {
    setJob(null);
    setLines([]);
    setError(null);
    setGone(false);
    lastSeq.current = 0;
  }, [jobId]);

  const fetchLogs = useCallback(async () => {
    const page = await api.jobLogs(jobId, lastSeq.current);
    // Keep only lines not seen yet, whichever way the server counts `after`.
    const fresh = page.lines.filter((line) => line.seq > lastSeq.current);
    if (fresh.length > 0) {
      lastSeq.current = Math.max(...fresh.map((line) => line.seq));
      setLines((current) => [...current, ...fresh]);
    }
  }, [jobId]);

  const tick = useCallback(async () => {
    try {
      const latest = await api.getJob(jobId);
      setJob(latest);
      await fetchLogs();
      setError(null);
    } catch (err) {
      setError(messageOf(err));
      // A job that no longer exists will not come back: stop asking.
      if (err instanceof ApiError && err.status === 404) setGone(true);
    }
  }, [jobId, fetchLogs]);

  const active = !gone && (job === null || isActive(job));
  usePolling(tick, POLL_MS, active);

  // Once the job has finished, fetch any last log lines written after the final poll.
  const finished = job !== null && !isActive(job);
  useEffect(() => {
    if (finished) fetchLogs().catch(() => undefined);
  }, [finished, fetchLogs]);

  return { job, lines, error, setJob };
}
