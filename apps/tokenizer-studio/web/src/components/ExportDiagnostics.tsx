// "Export diagnostics": a download of the engine's diagnostics zip (logs merged by time, the
// system and runtime facts, recent job states), with names, contents and secrets left out.
import { diagnosticsUrl } from '../api/client';

export function ExportDiagnostics({ primary = false }: { primary?: boolean }) {
  return (
    <a className={primary ? 'button primary' : 'button'} href={diagnosticsUrl()} download data-testid="export-diagnostics">
      Export diagnostics
    </a>
  );
}
