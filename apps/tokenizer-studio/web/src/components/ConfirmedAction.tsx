// A button that asks before it acts: the prompt with "Really …" and "Keep", then what the action
// said (or its error). Test ids derive from `testId`: `<id>`, `confirm-<id>-prompt`,
// `confirm-<id>`, `<id>-said`, `<id>-error`.
import { useState, type ReactNode } from 'react';
import { messageOf } from '../api/errors';
import { ErrorMessage } from './ErrorMessage';

interface Props<T> {
  label: string;
  prompt: string;
  confirmLabel: string;
  busyLabel: string;
  testId: string;
  run: () => Promise<T>;
  /** What to show once `run` succeeded. */
  said: (result: T) => ReactNode;
  onDone?: () => void;
}

export function ConfirmedAction<T>({ label, prompt, confirmLabel, busyLabel, testId, run, said, onDone }: Props<T>) {
  const [confirming, setConfirming] = useState(false);
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<{ value: T } | null>(null);
  const [error, setError] = useState<string | null>(null);

  const act = async () => {
    setRunning(true);
    setError(null);
    setResult(null);
    try {
      setResult({ value: await run() });
      onDone?.();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setRunning(false);
      setConfirming(false);
    }
  };

  return (
    <>
      {confirming ? (
        <p className="confirm" data-testid={`confirm-${testId}-prompt`}>
          {prompt}{' '}
          <button
            type="button"
            className="button danger"
            disabled={running}
            data-testid={`confirm-${testId}`}
            onClick={() => void act()}
          >
            {running ? busyLabel : confirmLabel}
          </button>{' '}
          <button type="button" className="button" disabled={running} onClick={() => setConfirming(false)}>
            Keep
          </button>
        </p>
      ) : (
        <p>
          <button
            type="button"
            className="button"
            data-testid={testId}
            onClick={() => {
              setResult(null);
              setError(null);
              setConfirming(true);
            }}
          >
            {label}
          </button>
        </p>
      )}
      {result && (
        <div role="status" data-testid={`${testId}-said`}>
          {said(result.value)}
        </div>
      )}
      <ErrorMessage message={error} testId={`${testId}-error`} />
    </>
  );
}
