// New training screen: template, its knobs with inline validation, datasets, name, and start.
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { ApiError, messageOf } from '../../api/errors';
import type { ConfigValues, Dataset, Job, Template } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';
import { knobLabel } from '../../format';
import { fromFormValue, sameValue, toFormValue, validateForm } from '../../validation';
import { DatasetPicker } from './DatasetPicker';
import { KnobField } from './KnobField';
import { TemplatePicker } from './TemplatePicker';

type FormValues = Record<string, string | boolean>;

interface Props {
  onStarted: (job: Job) => void;
}

function initialValues(template: Template): FormValues {
  return Object.fromEntries(template.knobs.map((knob) => [knob, toFormValue(template.defaults[knob])]));
}

export function NewTrainingScreen({ onStarted }: Props) {
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [templateId, setTemplateId] = useState<string | null>(null);
  const [values, setValues] = useState<FormValues>({});
  const [selected, setSelected] = useState<string[]>([]);
  const [name, setName] = useState('');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [triedSubmit, setTriedSubmit] = useState(false);
  const [submitting, setSubmitting] = useState(false);

  useEffect(() => {
    let cancelled = false;
    Promise.all([api.listTemplates(), api.listDatasets()])
      .then(([loadedTemplates, loadedDatasets]) => {
        if (cancelled) return;
        setTemplates(loadedTemplates);
        setDatasets(loadedDatasets);
        if (loadedTemplates.length > 0) {
          setTemplateId(loadedTemplates[0].id);
          setValues(initialValues(loadedTemplates[0]));
        }
        if (loadedDatasets.length === 1) setSelected([loadedDatasets[0].id]);
      })
      .catch((error: unknown) => !cancelled && setLoadError(messageOf(error)));
    return () => {
      cancelled = true;
    };
  }, []);

  const template = templates?.find((item) => item.id === templateId) ?? null;

  const errors = useMemo(
    () => (template ? validateForm(template.knobs, template.defaults, values) : {}),
    [template, values],
  );

  const columnNames = useMemo(
    () => [...new Set((datasets ?? []).flatMap((dataset) => dataset.columns ?? []))].sort(),
    [datasets],
  );

  const datasetError = triedSubmit && selected.length === 0 ? 'Choose at least one dataset.' : null;

  const chooseTemplate = (id: string) => {
    const next = templates?.find((item) => item.id === id);
    if (!next) return;
    setTemplateId(id);
    setValues(initialValues(next));
    setServerErrors({});
  };

  const changeKnob = (knob: string, value: string | boolean) => {
    setValues((current) => ({ ...current, [knob]: value }));
    setServerErrors(({ [knob]: _dropped, ...rest }) => rest);
  };

  const overrides = (): ConfigValues => {
    const result: ConfigValues = {};
    if (!template) return result;
    for (const knob of template.knobs) {
      const value = fromFormValue(knob, values[knob] ?? '', template.defaults[knob]);
      if (!sameValue(value, template.defaults[knob])) result[knob] = value;
    }
    return result;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTriedSubmit(true);
    setSubmitError(null);
    if (!template || Object.keys(errors).length > 0 || selected.length === 0) {
      setSubmitError(errors[''] ?? 'Please fix the highlighted fields first.');
      return;
    }
    setSubmitting(true);
    try {
      const job = await api.createJob({
        ...(name.trim() ? { name: name.trim() } : {}),
        template: template.id,
        dataset_ids: selected,
        overrides: overrides(),
      });
      onStarted(job);
    } catch (error) {
      if (error instanceof ApiError && error.fields.length > 0) {
        // The engine words field problems as "<field> <message>", e.g. "vocab_size must be ...".
        const sentence = (field: string, message: string) =>
          field ? `${knobLabel(field)} ${message}`.replace(/([^.!?])$/, '$1.') : message;
        const knobs: readonly string[] = template.knobs;
        const onForm = error.fields.filter((f) => knobs.includes(f.field));
        const elsewhere = error.fields.filter((f) => !knobs.includes(f.field));
        setServerErrors(Object.fromEntries(onForm.map((f) => [f.field, sentence(f.field, f.message)])));
        setSubmitError([error.message, ...elsewhere.map((f) => sentence(f.field, f.message))].join(' '));
      } else {
        setSubmitError(messageOf(error));
      }
      setSubmitting(false);
    }
  };

  if (loadError) {
    return (
      <div className="screen">
        <h1>New training</h1>
        <ErrorMessage message={loadError} />
      </div>
    );
  }
  if (!templates || !datasets) {
    return (
      <div className="screen">
        <h1>New training</h1>
        <p className="muted" role="status">Loading…</p>
      </div>
    );
  }

  return (
    <div className="screen" data-testid="new-training-screen">
      <h1>New training</h1>
      <form className="card form" onSubmit={(event) => void submit(event)} noValidate>
        <TemplatePicker templates={templates} selected={templateId} onSelect={chooseTemplate} />
        {template && template.knobs.length > 0 && (
          <fieldset className="fieldset">
            <legend>Settings</legend>
            <div className="knob-grid">
              {template.knobs.map((knob) => (
                <KnobField
                  key={`${template.id}-${knob}`}
                  knob={knob}
                  value={values[knob] ?? ''}
                  fallback={template.defaults[knob]}
                  error={errors[knob] ?? serverErrors[knob] ?? null}
                  suggestions={knob === 'text_column' ? columnNames : undefined}
                  onChange={(value) => changeKnob(knob, value)}
                />
              ))}
            </div>
          </fieldset>
        )}
        <DatasetPicker datasets={datasets} selected={selected} error={datasetError} onChange={setSelected} />
        <div className="field">
          <label htmlFor="job-name">Name (optional)</label>
          <input
            id="job-name"
            type="text"
            maxLength={120}
            value={name}
            data-testid="job-name"
            onChange={(event) => setName(event.currentTarget.value)}
          />
        </div>
        <ErrorMessage message={submitError} testId="start-error" />
        <div className="form-actions">
          <button type="submit" className="button primary" disabled={submitting} data-testid="start-training">
            {submitting ? 'Starting…' : 'Start training'}
          </button>
        </div>
      </form>
    </div>
  );
}
