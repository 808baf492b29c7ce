// Checkbox list to choose which datasets a training job reads.
import type { Dataset } from '../../api/types';
import { formatBytes, formatCount } from '../../format';

interface Props {
  datasets: Dataset[];
  selected: string[];
  error: string | null;
  onChange: (ids: string[]) => void;
}

export function DatasetPicker({ datasets, selected, error, onChange }: Props) {
  const toggle = (id: string, checked: boolean) =>
    onChange(checked ? [...selected, id] : selected.filter((item) => item !== id));

  return (
    <fieldset className={error ? 'fieldset has-error' : 'fieldset'} aria-describedby="dataset-picker-error">
      <legend>Datasets</legend>
      {datasets.length === 0 ? (
        <p className="muted">No datasets yet. Upload one on the Datasets screen first.</p>
      ) : (
        <ul className="check-list">
          {datasets.map((dataset) => (
            <li key={dataset.id}>
              <label data-testid="dataset-option" data-dataset-id={dataset.id}>
                <input
                  type="checkbox"
                  checked={selected.includes(dataset.id)}
                  onChange={(event) => toggle(dataset.id, event.currentTarget.checked)}
                />
                <span>{dataset.name}</span>
                <span className="muted small">
                  {formatBytes(dataset.size_bytes)}
                  {dataset.n_rows !== null && ` · ${formatCount(dataset.n_rows)} rows`}
                  {dataset.text_column && ` · column “${dataset.text_column}”`}
                </span>
              </label>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p id="dataset-picker-error" className="field-error" data-testid="dataset-picker-error">
          {error}
        </p>
      )}
    </fieldset>
  );
}
