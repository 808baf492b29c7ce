// File picker plus drag-and-drop zone; uploads files one after another with real progress bars.
import { useRef, useState, type DragEvent } from 'react';
import { uploadDataset } from '../../api/upload';
import { messageOf } from '../../api/errors';
import type { Dataset } from '../../api/types';
import { HelpSection } from '../../components/HelpSection';
import { ProgressBar } from '../../components/ProgressBar';
import { helpAnchorFor } from '../../troubleshooting';
import { formatBytes } from '../../format';

const ACCEPT = '.txt,.jsonl,.csv,.parquet';
const ALLOWED = /\.(txt|jsonl|csv|parquet)$/i;

interface UploadItem {
  key: number;
  name: string;
  size: number;
  progress: number;
  state: 'waiting' | 'uploading' | 'done' | 'failed';
  message: string | null;
}

interface Props {
  onUploaded: (dataset: Dataset) => void;
}

let nextKey = 1;

export function UploadArea({ onUploaded }: Props) {
  const inputRef = useRef<HTMLInputElement>(null);
  const [items, setItems] = useState<UploadItem[]>([]);
  const [dragging, setDragging] = useState(false);
  const queue = useRef<Promise<void>>(Promise.resolve());

  const update = (key: number, patch: Partial<UploadItem>) =>
    setItems((current) => current.map((item) => (item.key === key ? { ...item, ...patch } : item)));

  const uploadOne = async (file: File, key: number) => {
    if (!ALLOWED.test(file.name)) {
      update(key, { state: 'failed', message: 'Only .txt, .jsonl, .csv and .parquet files can be used.' });
      return;
    }
    update(key, { state: 'uploading' });
    try {
      const dataset = await uploadDataset(file, (progress) => update(key, { progress })).promise;
      update(key, { state: 'done', progress: 1, message: null });
      onUploaded(dataset);
    } catch (error) {
      update(key, { state: 'failed', message: messageOf(error) });
    }
  };

  const addFiles = (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const added = Array.from(files).map((file) => ({ file, key: nextKey++ }));
    setItems((current) => [
      ...added.map(({ file, key }): UploadItem => ({
        key,
        name: file.name,
        size: file.size,
        progress: 0,
        state: 'waiting',
        message: null,
      })),
      ...current.filter((item) => item.state !== 'done'),
    ]);
    for (const { file, key } of added) {
      queue.current = queue.current.then(() => uploadOne(file, key));
    }
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer.files);
  };

  return (
    <section className="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Add a dataset</h2>
      <div
        className={dragging ? 'dropzone dragging' : 'dropzone'}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>Drag text files here, or</p>
        <button type="button" className="button primary" onClick={() => inputRef.current?.click()}>
          Choose files…
        </button>
        <input
          ref={inputRef}
          type="file"
          accept={ACCEPT}
          multiple
          hidden
          data-testid="file-input"
          aria-label="Choose dataset files"
          onChange={(event) => {
            addFiles(event.currentTarget.files);
            event.currentTarget.value = '';
          }}
        />
        <p className="hint">Accepted: .txt, .jsonl, .csv, .parquet</p>
      </div>
      {items.length > 0 && (
        <ul className="upload-list" aria-label="Uploads">
          {items.map((item) => (
            <li key={item.key} data-testid="upload-item" data-state={item.state}>
              <div className="upload-head">
                <span className="upload-name">{item.name}</span>
                <span className="muted">{formatBytes(item.size)}</span>
                <span className="muted" aria-live="polite">
                  {uploadStateLabel(item.state, item.progress)}
                </span>
              </div>
              {item.state !== 'failed' && (
                <ProgressBar
                  value={item.progress}
                  label={`Upload of ${item.name}`}
                  testId="upload-progress"
                  tone={item.state === 'done' ? 'success' : 'normal'}
                />
              )}
              {item.message && (
                <p className="error" role="alert" data-testid="upload-error">
                  {item.message}
                </p>
              )}
              {item.state === 'failed' && item.message && helpAnchorFor(item.message) === 'not-enough-space' && (
                <HelpSection anchor="not-enough-space" />
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function uploadStateLabel(state: UploadItem['state'], progress: number): string {
  switch (state) {
    case 'waiting':
      return 'Waiting';
    case 'uploading':
      return progress >= 1 ? 'Checking the file…' : 'Uploading…';
    case 'done':
      return 'Uploaded';
    case 'failed':
      return 'Failed';
  }
}
