// The metrics a finished job reports, as a definition list.
import type { JobMetrics as Metrics } from '../../api/types';
import { formatBytes, formatCount, formatDuration, knobLabel } from '../../format';

const KNOWN: { key: keyof Metrics & string; label: string; format: (value: number) => string }[] = [
  { key: 'vocab_size', label: 'Vocabulary size', format: formatCount },
  { key: 'n_input_rows', label: 'Rows read', format: formatCount },
  { key: 'n_input_bytes', label: 'Text read', format: formatBytes },
  { key: 'duration_s', label: 'Training time', format: formatDuration },
  { key: 'avg_tokens_per_word', label: 'Tokens per word (average)', format: (v) => v.toFixed(2) },
];

function formatOther(value: unknown): string | null {
  if (typeof value === 'number') return Number.isInteger(value) ? formatCount(value) : value.toFixed(3);
  if (typeof value === 'string' || typeof value === 'boolean') return String(value);
  return null;
}

export function JobMetrics({ metrics }: { metrics: Metrics | null }) {
  if (!metrics) return null;
  const knownKeys = new Set<string>(KNOWN.map((item) => item.key));
  const rows: [string, string][] = [];
  for (const item of KNOWN) {
    const value = metrics[item.key];
    if (typeof value === 'number') rows.push([item.label, item.format(value)]);
  }
  for (const [key, value] of Object.entries(metrics)) {
    const text = knownKeys.has(key) ? null : formatOther(value);
    if (text !== null) rows.push([knobLabel(key), text]);
  }
  if (rows.length === 0) return null;
  return (
    <section className="card" aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics</h2>
      <dl className="facts" data-testid="job-metrics">
        {rows.map(([label, text]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{text}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
