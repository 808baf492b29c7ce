// The job's log lines, newest at the bottom; follows new lines unless the reader scrolled up.
// For a failed job the log is the technical side of what went wrong: it waits, collapsed,
// under "Show details", below the sentence that says what to do.
import { useEffect, useRef, useState } from 'react';
import type { LogLine } from '../../api/types';

function timeOf(ts: string): string {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? ts : date.toLocaleTimeString();
}

interface Props {
  lines: LogLine[];
  /** Behind a closed "Show details" until the reader opens it. */
  collapsed?: boolean;
}

export function JobLogs({ lines, collapsed = false }: Props) {
  const boxRef = useRef<HTMLDivElement>(null);
  const followRef = useRef(true);
  const [open, setOpen] = useState(false);
  const shown = !collapsed || open;

  useEffect(() => {
    const box = boxRef.current;
    if (box && shown && followRef.current) box.scrollTop = box.scrollHeight;
  }, [lines.length, shown]);

  const log = (
    <div
      ref={boxRef}
      className="log"
      data-testid="job-logs"
      tabIndex={0}
      role="log"
      aria-label="Job log"
      onScroll={(event) => {
        const box = event.currentTarget;
        followRef.current = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
      }}
    >
      {lines.length === 0 ? (
        <p className="muted">No log lines yet.</p>
      ) : (
        lines.map((line) => (
          <div key={line.seq} className="log-line" data-testid="log-line">
            <span className="log-time">{timeOf(line.ts)}</span>
            <span>{line.message}</span>
          </div>
        ))
      )}
    </div>
  );

  if (collapsed) {
    return (
      <section className="card" aria-label="Details">
        <details
          className="log-details"
          data-testid="job-log-details"
          onToggle={(event) => setOpen(event.currentTarget.open)}
        >
          <summary>{open ? 'Hide details' : 'Show details'}</summary>
          {log}
        </details>
      </section>
    );
  }

  return (
    <section className="card" aria-labelledby="logs-title">
      <h2 id="logs-title">Log</h2>
      {log}
    </section>
  );
}
