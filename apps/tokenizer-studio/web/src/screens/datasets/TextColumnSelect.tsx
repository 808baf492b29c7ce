// Drop-down to choose which column of a tabular dataset holds the text.
import { useId, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { Dataset } from '../../api/types';

interface Props {
  dataset: Dataset;
  onChanged: (dataset: Dataset) => void;
  onError: (message: string) => void;
}

export function TextColumnSelect({ dataset, onChanged, onError }: Props) {
  const id = useId();
  const [saving, setSaving] = useState(false);
  if (!dataset.columns || dataset.columns.length === 0) return <span className="muted">—</span>;

  const change = async (column: string) => {
    setSaving(true);
    try {
      onChanged(await api.setTextColumn(dataset.id, column));
    } catch (error) {
      onError(messageOf(error));
    } finally {
      setSaving(false);
    }
  };

  return (
    <>
      <label htmlFor={id} className="visually-hidden">
        Text column of {dataset.name}
      </label>
      <select
        id={id}
        value={dataset.text_column ?? ''}
        disabled={saving}
        data-testid="text-column-select"
        onChange={(event) => void change(event.currentTarget.value)}
      >
        {dataset.text_column === null && <option value="">Choose…</option>}
        {dataset.columns.map((column) => (
          <option key={column} value={column}>
            {column}
          </option>
        ))}
      </select>
    </>
  );
}
