// The first rows of a dataset's text, fetched when the preview is opened.
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import { ErrorMessage } from '../../components/ErrorMessage';

interface Props {
  datasetId: string;
  /** Changes when the text column changes, so the preview reloads. */
  textColumn: string | null;
}

export function DatasetPreview({ datasetId, textColumn }: Props) {
  const [rows, setRows] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    setRows(null);
    setError(null);
    api
      .previewDataset(datasetId, 20)
      .then((preview) => !cancelled && setRows(preview.rows))
      .catch((err: unknown) => !cancelled && setError(messageOf(err)));
    return () => {
      cancelled = true;
    };
  }, [datasetId, textColumn]);

  if (error) return <ErrorMessage message={error} />;
  if (rows === null) return <p className="muted" role="status">Loading preview…</p>;
  if (rows.length === 0) return <p className="muted">No text found in this dataset.</p>;
  return (
    <ol className="preview" data-testid="dataset-preview" aria-label="First rows">
      {rows.map((row, index) => (
        <li key={index}>{row}</li>
      ))}
    </ol>
  );
}
