// The job's log lines, newest at the bottom; follows new lines unless the reader scrolled up.
import { useEffect, useRef } from 'react';
import type { LogLine } from '../../api/types';

function timeOf(ts: string): string {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? ts : date.toLocaleTimeString();
}

export function JobLogs({ lines }: { lines: LogLine[] }) {
  const boxRef = useRef<HTMLDivElement>(null);
  const followRef = useRef(true);

  useEffect(() => {
    const box = boxRef.current;
    if (box && followRef.current) box.scrollTop = box.scrollHeight;
  }, [lines.length]);

  return (
    <section className="card" aria-labelledby="logs-title">
      <h2 id="logs-title">Log</h2>
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
    </section>
  );
}
