// The tokenizer (trained or imported): download and export links, file facts and the "Try it" box.
import { useState } from 'react';
import { artifactUrl, exportUrl } from '../../api/client';
import type { Job } from '../../api/types';
import { inDesktopShell, openArtifactsFolder } from '../../desktop';
import { formatBytes } from '../../format';
import { TryIt } from './TryIt';

export function ArtifactPanel({ job }: { job: Job }) {
  const [folderError, setFolderError] = useState<string | null>(null);
  if (!job.artifact) return null;
  const openFolder = () => {
    setFolderError(null);
    openArtifactsFolder().catch((error: unknown) => setFolderError(String(error)));
  };
  return (
    <section className="card" aria-labelledby="artifact-title" data-testid="artifact-panel">
      <h2 id="artifact-title">Tokenizer</h2>
      <dl className="facts compact">
        <div>
          <dt>File</dt>
          <dd>tokenizer.json ({formatBytes(job.artifact.size_bytes)})</dd>
        </div>
        <div>
          <dt>SHA-256</dt>
          <dd className="hash">{job.artifact.sha256}</dd>
        </div>
      </dl>
      <a className="button primary" href={artifactUrl(job.id)} download data-testid="download-artifact">
        Download tokenizer.json
      </a>
      <a
        className="button"
        style={{ marginLeft: 8 }}
        href={exportUrl(job.id)}
        download
        data-testid="export-transformers"
        title="A zip of one folder: load it with AutoTokenizer.from_pretrained(folder)"
      >
        Export for Transformers (.zip)
      </a>
      {inDesktopShell() && (
        <button type="button" className="button" style={{ marginLeft: 8 }} onClick={openFolder} data-testid="open-artifacts-folder">
          Open folder
        </button>
      )}
      {folderError && <p className="field-error" data-testid="open-folder-error">{folderError}</p>}
      <TryIt jobId={job.id} />
    </section>
  );
}
