// One dataset in the list: facts, text column, preview toggle and a two-step delete.
import { useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { Dataset } from '../../api/types';
import { formatBytes, formatCount, formatDate } from '../../format';
import { DatasetPreview } from './DatasetPreview';
import { TextColumnSelect } from './TextColumnSelect';

interface Props {
  dataset: Dataset;
  onChanged: (dataset: Dataset) => void;
  onDeleted: (id: string) => void;
  onError: (message: string) => void;
}

export function DatasetRow({ dataset, onChanged, onDeleted, onError }: Props) {
  const [previewOpen, setPreviewOpen] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const previewId = `preview-${dataset.id}`;

  const remove = async () => {
    setDeleting(true);
    try {
      await api.deleteDataset(dataset.id);
      onDeleted(dataset.id);
    } catch (error) {
      onError(messageOf(error));
      setDeleting(false);
      setConfirming(false);
    }
  };

  return (
    <>
      <tr data-testid="dataset-row" data-dataset-id={dataset.id}>
        <th scope="row" className="cell-name" data-testid="dataset-name">
          {dataset.name}
          <div className="muted small">{formatDate(dataset.created_at)}</div>
        </th>
        <td>{dataset.format}</td>
        <td className="num">{formatBytes(dataset.size_bytes)}</td>
        <td className="num" data-testid="dataset-rows">{formatCount(dataset.n_rows)}</td>
        <td>
          <TextColumnSelect dataset={dataset} onChanged={onChanged} onError={onError} />
        </td>
        <td className="actions">
          <button
            type="button"
            className="button"
            aria-expanded={previewOpen}
            aria-controls={previewId}
            data-testid="preview-button"
            onClick={() => setPreviewOpen((open) => !open)}
          >
            {previewOpen ? 'Hide preview' : 'Preview'}
          </button>
          {confirming ? (
            <>
              <button
                type="button"
                className="button danger"
                disabled={deleting}
                data-testid="confirm-delete-button"
                onClick={() => void remove()}
              >
                {deleting ? 'Deleting…' : 'Really delete'}
              </button>
              <button type="button" className="button" disabled={deleting} onClick={() => setConfirming(false)}>
                Keep
              </button>
            </>
          ) : (
            <button
              type="button"
              className="button"
              data-testid="delete-button"
              aria-label={`Delete ${dataset.name}`}
              onClick={() => setConfirming(true)}
            >
              Delete
            </button>
          )}
        </td>
      </tr>
      {previewOpen && (
        <tr className="preview-row" id={previewId}>
          <td colSpan={6}>
            <DatasetPreview datasetId={dataset.id} textColumn={dataset.text_column} />
          </td>
        </tr>
      )}
    </>
  );
}
