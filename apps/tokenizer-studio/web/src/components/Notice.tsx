// Full-page message used before the app can start: not authorised, or service unreachable.
import type { ReactNode } from 'react';

interface Props {
  title: string;
  children: ReactNode;
  testId: string;
}

export function Notice({ title, children, testId }: Props) {
  return (
    <main className="notice" data-testid={testId}>
      <div className="notice-card">
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}
