// Datasets screen: upload area and the list of uploaded datasets.
import { useCallback, useEffect, useState } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { Dataset } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';
import { DatasetRow } from './DatasetRow';
import { UploadArea } from './UploadArea';

export function DatasetsScreen() {
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const fetched = await api.listDatasets();
      // An upload can finish before this first list arrives: keep what was added meanwhile.
      setDatasets((current) => {
        const listed = new Set(fetched.map((item) => item.id));
        return [...(current ?? []).filter((item) => !listed.has(item.id)), ...fetched];
      });
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const replace = (dataset: Dataset) =>
    setDatasets((current) => (current ?? []).map((item) => (item.id === dataset.id ? dataset : item)));

  const added = (dataset: Dataset) => {
    setDatasets((current) => [dataset, ...(current ?? []).filter((item) => item.id !== dataset.id)]);
  };

  return (
    <div className="screen" data-testid="datasets-screen">
      <h1>Datasets</h1>
      <UploadArea onUploaded={added} />
      <section className="card" aria-labelledby="datasets-title">
        <h2 id="datasets-title">Your datasets</h2>
        <ErrorMessage message={error} onDismiss={() => setError(null)} />
        {datasets === null && !error && <p className="muted" role="status">Loading…</p>}
        {datasets !== null && datasets.length === 0 && (
          <p className="muted" data-testid="no-datasets">No datasets yet. Add a text file above.</p>
        )}
        {datasets !== null && datasets.length > 0 && (
          <div className="table-wrap">
            <table className="table" data-testid="dataset-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Format</th>
                  <th scope="col" className="num">Size</th>
                  <th scope="col" className="num">Rows</th>
                  <th scope="col">Text column</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {datasets.map((dataset) => (
                  <DatasetRow
                    key={dataset.id}
                    dataset={dataset}
                    onChanged={replace}
                    onDeleted={(id) => setDatasets((current) => (current ?? []).filter((item) => item.id !== id))}
                    onError={setError}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
