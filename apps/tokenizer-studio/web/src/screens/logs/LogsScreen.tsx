// "The app's logs": the newest lines of the app's, the supervisor's and the engine's logs merged
// by time, newest at the bottom, with a level and a source filter. What went wrong can be read
// here without finding the logs folder; a traceback's lines come with their record.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { AppLogLine, AppLogs, AppLogsQuery } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';

type Level = NonNullable<AppLogsQuery['level']> | 'all';
type Source = NonNullable<AppLogsQuery['source']>;

const LEVELS: [Level, string][] = [
  ['all', 'All'],
  ['info', 'Info and above'],
  ['warning', 'Warnings and errors'],
  ['error', 'Errors only'],
];

const SOURCES: [Source, string][] = [
  ['all', 'All logs'],
  ['server', "The engine's log (server.log)"],
  ['engine', "The engine's output as the app saw it (engine.log)"],
  ['shell', "The app's window (shell.log)"],
];

const SOURCE_LABELS: Record<AppLogLine['source'], string> = { shell: 'app', engine: 'output', server: 'engine' };

// A few screens of a busy log: every line is rendered, so not the engine's maximum of 5,000.
const LIMIT = 2000;

function timeOf(time: string | null): string {
  if (time === null) return '';
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? time : date.toLocaleString();
}

export function LogsScreen({ onBack }: { onBack: () => void }) {
  const [level, setLevel] = useState<Level>('all');
  const [source, setSource] = useState<Source>('all');
  const [logs, setLogs] = useState<AppLogs | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const boxRef = useRef<HTMLDivElement>(null);
  // Answers can arrive out of order when the filters change quickly: only the last one counts.
  const asked = useRef(0);

  const load = useCallback(async () => {
    const ask = ++asked.current;
    setLoading(true);
    try {
      const answer = await api.appLogs({ level: level === 'all' ? undefined : level, source, limit: LIMIT });
      if (ask !== asked.current) return;
      setLogs(answer);
      setError(null);
    } catch (err) {
      if (ask === asked.current) setError(messageOf(err));
    } finally {
      if (ask === asked.current) setLoading(false);
    }
  }, [level, source]);

  useEffect(() => {
    void load();
  }, [load]);

  // Newest at the bottom, so that is where the box opens.
  useLayoutEffect(() => {
    const box = boxRef.current;
    if (box) box.scrollTop = box.scrollHeight;
  }, [logs]);

  return (
    <div className="screen" data-testid="logs-screen">
      <button type="button" className="link-button" onClick={onBack} data-testid="back-to-about">
        ← About this computer
      </button>
      <div className="screen-head">
        <h1>The app&apos;s logs</h1>
      </div>
      <section className="card" aria-labelledby="logs-title">
        <h2 id="logs-title" className="visually-hidden">
          Log lines
        </h2>
        <div className="log-filters">
          <div className="field">
            <label htmlFor="logs-level">Show</label>
            <select
              id="logs-level"
              value={level}
              data-testid="logs-level"
              onChange={(event) => setLevel(event.currentTarget.value as Level)}
            >
              {LEVELS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="logs-source">From</label>
            <select
              id="logs-source"
              value={source}
              data-testid="logs-source"
              onChange={(event) => setSource(event.currentTarget.value as Source)}
            >
              {SOURCES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <button type="button" className="button" onClick={() => void load()} disabled={loading} data-testid="logs-refresh">
            {loading ? 'Loading…' : 'Refresh'}
          </button>
        </div>
        <ErrorMessage message={error} testId="logs-error" />
        {logs?.truncated && (
          <p className="muted small" data-testid="logs-truncated">
            Older lines were left out: these are the newest {logs.lines.length.toLocaleString('en-US')}. The logs
            folder has more.
          </p>
        )}
        <div
          ref={boxRef}
          className="log log-tall"
          data-testid="app-logs"
          tabIndex={0}
          role="log"
          aria-label="The app's logs"
          aria-busy={loading}
        >
          {logs === null ? (
            <p className="muted">{loading ? 'Loading…' : 'No logs.'}</p>
          ) : logs.lines.length === 0 ? (
            <p className="muted" data-testid="logs-empty">
              No lines {level === 'all' ? 'yet' : 'at this level'}.
            </p>
          ) : (
            logs.lines.map((line, index) => (
              <div
                key={index}
                className={line.level ? `log-line log-${line.level.toLowerCase()}` : 'log-line'}
                data-testid="app-log-line"
                data-source={line.source}
                data-level={line.level ?? ''}
              >
                <span className="log-time">{timeOf(line.time)}</span>
                <span className="log-source">{SOURCE_LABELS[line.source]}</span>
                <span className="log-level">{line.level ?? ''}</span>
                <span>{line.text}</span>
              </div>
            ))
          )}
        </div>
        {logs && logs.files.length > 0 && (
          <p className="muted small" data-testid="logs-files">
            Read from {logs.files.join(', ')}.
          </p>
        )}
      </section>
    </div>
  );
}
