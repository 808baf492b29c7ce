// "Import tokenizer.json": posts a Hugging Face tokenizer.json to the engine, which checks it
// with the tokenizers library; on success the imported tokenizer opens like a trained one.
import { useRef, useState } from 'react';
import { messageOf } from '../../api/errors';
import type { Job } from '../../api/types';
import { importTokenizer } from '../../api/upload';
import { formatPercent } from '../../format';

interface Props {
  onImported: (job: Job) => void;
  /** The engine's refusal sentence, or null when a new attempt starts. */
  onError: (message: string | null) => void;
}

export function ImportTokenizer({ onImported, onError }: Props) {
  const inputRef = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<number | null>(null);

  const importFile = async (file: File) => {
    onError(null);
    setProgress(0);
    try {
      const job = await importTokenizer(file, setProgress).promise;
      onImported(job);
    } catch (err) {
      onError(messageOf(err));
    } finally {
      setProgress(null);
    }
  };

  const label =
    progress === null ? 'Import tokenizer.json…' : progress < 1 ? `Importing… ${formatPercent(progress)}` : 'Checking the file…';
  return (
    <>
      <button
        type="button"
        className="button"
        disabled={progress !== null}
        data-testid="import-tokenizer"
        title="A tokenizer.json saved by Hugging Face tokenizers or transformers"
        onClick={() => inputRef.current?.click()}
      >
        {label}
      </button>
      <input
        ref={inputRef}
        type="file"
        accept=".json,application/json"
        hidden
        data-testid="import-tokenizer-input"
        aria-label="Choose a tokenizer.json to import"
        onChange={(event) => {
          const file = event.currentTarget.files?.[0];
          event.currentTarget.value = '';
          if (file) void importFile(file);
        }}
      />
    </>
  );
}
