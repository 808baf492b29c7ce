// Root component: runs the launch hand-off, then shows the screens or a plain-words notice.
import { useEffect, useState } from 'react';
import { onUnauthorized } from './api/client';
import { Nav } from './components/Nav';
import { Notice } from './components/Notice';
import type { Route } from './route';
import { AboutScreen } from './screens/about/AboutScreen';
import { DatasetsScreen } from './screens/datasets/DatasetsScreen';
import { JobDetail } from './screens/jobs/JobDetail';
import { JobsScreen } from './screens/jobs/JobsScreen';
import { LogsScreen } from './screens/logs/LogsScreen';
import { NewTrainingScreen } from './screens/training/NewTrainingScreen';
import { establishSession, resetSession, type SessionOutcome } from './session';

type Phase = { kind: 'connecting' } | SessionOutcome;

export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: 'connecting' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let cancelled = false;
    establishSession().then((outcome) => !cancelled && setPhase(outcome));
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  useEffect(() => onUnauthorized(() => setPhase({ kind: 'unauthorized', detail: null })), []);

  const retry = () => {
    resetSession();
    setPhase({ kind: 'connecting' });
    setAttempt((n) => n + 1);
  };

  // A launch code may also arrive without a reload (the app re-opens the same tab with a new code).
  useEffect(() => {
    const onHashChange = () => {
      if (/(^#|&)launch=/.test(window.location.hash)) retry();
    };
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);

  switch (phase.kind) {
    case 'connecting':
      return (
        <Notice title="Tokenizer Studio" testId="connecting">
          <p role="status">Connecting…</p>
        </Notice>
      );
    case 'unauthorized':
      return (
        <Notice title="Open Tokenizer Studio from the app" testId="unauthorized">
          <p>This page must be opened from the Tokenizer Studio app.</p>
          <p className="muted">
            Close this tab and use the Tokenizer Studio window instead. If it is already open, restart it.
          </p>
        </Notice>
      );
    case 'unreachable':
      return (
        <Notice title="Tokenizer Studio is not answering" testId="unreachable">
          <p>{phase.message}</p>
          <button type="button" className="button primary" onClick={retry}>
            Try again
          </button>
        </Notice>
      );
    case 'ready':
      return <Studio />;
  }
}

function Studio() {
  const [route, setRoute] = useState<Route>({ name: 'datasets' });

  useEffect(() => {
    window.scrollTo(0, 0);
  }, [route]);

  // The logs are a page of About, reached from its "Getting help".
  const aboutOpen = route.name === 'about' || route.name === 'logs';

  return (
    <div className="app" data-testid="app">
      <header className="header">
        <span className="brand">Tokenizer Studio</span>
        <Nav route={route} onNavigate={setRoute} />
        <button
          type="button"
          className={aboutOpen ? 'nav-item header-end active' : 'nav-item header-end'}
          aria-current={aboutOpen ? 'page' : undefined}
          data-testid="nav-about"
          onClick={() => setRoute({ name: 'about' })}
        >
          About this computer
        </button>
      </header>
      <main className="content">
        {route.name === 'datasets' && <DatasetsScreen />}
        {route.name === 'new-training' && (
          <NewTrainingScreen onStarted={(job) => setRoute({ name: 'job', id: job.id })} />
        )}
        {route.name === 'jobs' && (
          <JobsScreen
            onOpen={(id) => setRoute({ name: 'job', id })}
            onNew={() => setRoute({ name: 'new-training' })}
          />
        )}
        {route.name === 'job' && <JobDetail jobId={route.id} onBack={() => setRoute({ name: 'jobs' })} />}
        {route.name === 'about' && <AboutScreen onOpenLogs={() => setRoute({ name: 'logs' })} />}
        {route.name === 'logs' && <LogsScreen onBack={() => setRoute({ name: 'about' })} />}
      </main>
    </div>
  );
}
