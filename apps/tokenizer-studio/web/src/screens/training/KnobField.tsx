// One training knob as a form field (number, list, choice or switch) with its inline error.
import { useId } from 'react';
import type { ConfigValue } from '../../api/types';
import { knobLabel } from '../../format';
import { CHOICES, MAX_SPECIAL_TOKENS, VOCAB_MAX, VOCAB_MIN } from '../../validation';

interface Props {
  knob: string;
  value: string | boolean;
  fallback: ConfigValue | undefined;
  error: string | null;
  /** Values to suggest in a text field (e.g. the datasets' column names). */
  suggestions?: string[];
  onChange: (value: string | boolean) => void;
}

const HINTS: Record<string, string> = {
  vocab_size: `A whole number from ${VOCAB_MIN} to ${VOCAB_MAX.toLocaleString('en-US')}.`,
  min_frequency: 'Pairs seen fewer times than this are not merged. A whole number, 1 or more.',
  special_tokens: `Up to ${MAX_SPECIAL_TOKENS}, separated by spaces, e.g. [UNK] [PAD] or <|endoftext|>.`,
  text_column: "Leave empty to use each dataset's own text column.",
};

export function KnobField({ knob, value, fallback, error, suggestions = [], onChange }: Props) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [HINTS[knob] ? hintId : null, error ? errorId : null].filter(Boolean).join(' ') || undefined;
  const testId = `knob-${knob}`;

  if (typeof value === 'boolean') {
    return (
      <div className="field field-check">
        <input
          id={id}
          type="checkbox"
          checked={value}
          data-testid={testId}
          onChange={(event) => onChange(event.currentTarget.checked)}
        />
        <label htmlFor={id}>{knobLabel(knob)}</label>
      </div>
    );
  }

  const choices = CHOICES[knob];
  const numeric = knob === 'vocab_size' || knob === 'min_frequency' || typeof fallback === 'number';

  return (
    <div className={error ? 'field has-error' : 'field'}>
      <label htmlFor={id}>{knobLabel(knob)}</label>
      {choices ? (
        <select
          id={id}
          value={value}
          data-testid={testId}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(event) => onChange(event.currentTarget.value)}
        >
          {!choices.includes(value) && <option value={value}>{value || 'Choose…'}</option>}
          {choices.map((choice) => (
            <option key={choice} value={choice}>
              {choice}
            </option>
          ))}
        </select>
      ) : (
        <input
          id={id}
          type="text"
          inputMode={numeric ? 'numeric' : undefined}
          autoComplete="off"
          spellCheck={false}
          value={value}
          data-testid={testId}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          list={suggestions.length > 0 ? `${id}-suggestions` : undefined}
          onChange={(event) => onChange(event.currentTarget.value)}
        />
      )}
      {suggestions.length > 0 && (
        <datalist id={`${id}-suggestions`}>
          {suggestions.map((suggestion) => (
            <option key={suggestion} value={suggestion} />
          ))}
        </datalist>
      )}
      {HINTS[knob] && (
        <p id={hintId} className="hint">
          {HINTS[knob]}
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}
