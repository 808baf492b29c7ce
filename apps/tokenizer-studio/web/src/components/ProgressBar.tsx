// Accessible progress bar (role="progressbar") with a visible percentage.
import { formatPercent } from '../format';

interface Props {
  value: number;
  label: string;
  testId?: string;
  tone?: 'normal' | 'success' | 'danger';
}

export function ProgressBar({ value, label, testId, tone = 'normal' }: Props) {
  const fraction = Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));
  const percent = Math.round(fraction * 100);
  return (
    <div className="progress-row">
      <div
        className={`progress progress-${tone}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        data-testid={testId}
        data-value={fraction.toFixed(3)}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-text">{formatPercent(fraction)}</span>
    </div>
  );
}
