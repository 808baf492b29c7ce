// Shows an error in plain words (role="alert"), optionally with a dismiss button.

interface Props {
  message: string | null;
  testId?: string;
  onDismiss?: () => void;
}

export function ErrorMessage({ message, testId = 'error-message', onDismiss }: Props) {
  if (!message) return null;
  return (
    <div className="error" role="alert" data-testid={testId}>
      <span>{message}</span>
      {onDismiss && (
        <button type="button" className="link-button" onClick={onDismiss} aria-label="Dismiss this message">
          Dismiss
        </button>
      )}
    </div>
  );
}
