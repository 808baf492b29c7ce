// Training-config rules mirrored from the engine (API.md "Templates"), for inline validation.
import type { ConfigValue } from './api/types';

export const VOCAB_MIN = 32;
export const VOCAB_MAX = 1_000_000;
export const MIN_FREQ_MIN = 1;
export const MIN_FREQ_MAX = 1_000_000;
export const MAX_SPECIAL_TOKENS = 64;
export const MAX_TEXT_COLUMN_LEN = 256;
const UNK_TOKENS = ['[UNK]', '<unk>'];

export const CHOICES: Record<string, readonly string[]> = {
  model: ['bpe', 'byte_bpe', 'wordpiece', 'unigram'],
  normalization: ['none', 'nfc', 'nfkc'],
  pre_tokenizer: ['byte_level', 'whitespace', 'whitespace_split', 'metaspace', 'bert'],
};

const SPECIAL_TOKEN_PATTERNS = [/^\[[A-Z_]{1,24}\]$/, /^<\|?[a-z_]{1,24}\|?>$/, /^<\/?[a-z]{1,8}>$/];

export function isValidSpecialToken(token: string): boolean {
  return SPECIAL_TOKEN_PATTERNS.some((pattern) => pattern.test(token));
}

/** Splits the special-tokens text field (commas, spaces or new lines) into a list. */
export function parseTokenList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((token) => token.trim())
    .filter((token) => token !== '');
}

function checkInteger(raw: string, min: number, max: number, label: string): string | null {
  const text = raw.trim().replace(/[_\s]/g, '');
  if (text === '') return `Enter the ${label}.`;
  if (!/^-?\d+$/.test(text)) return `The ${label} must be a whole number.`;
  const value = Number(text);
  if (value < min || value > max) {
    return `The ${label} must be between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}.`;
  }
  return null;
}

/** Returns a plain-words problem for one knob's form text, or null when it is acceptable. */
export function validateKnob(knob: string, raw: string | boolean): string | null {
  if (typeof raw === 'boolean') return null;
  switch (knob) {
    case 'vocab_size':
      return checkInteger(raw, VOCAB_MIN, VOCAB_MAX, 'vocabulary size');
    case 'min_frequency':
      return checkInteger(raw, MIN_FREQ_MIN, MIN_FREQ_MAX, 'minimum frequency');
    case 'special_tokens': {
      const tokens = parseTokenList(raw);
      if (tokens.length > MAX_SPECIAL_TOKENS) return `Use at most ${MAX_SPECIAL_TOKENS} special tokens.`;
      const bad = tokens.filter((token) => !isValidSpecialToken(token));
      if (bad.length > 0) {
        return `Not a valid special token: ${bad.join(', ')}. Use [UPPER_CASE], <lower_case>, <|lower_case|> or </tag>.`;
      }
      const twice = tokens.find((token, index) => tokens.indexOf(token) !== index);
      if (twice) return `${twice} is listed twice; remove the duplicate.`;
      return null;
    }
    case 'text_column':
      return raw.trim().length > MAX_TEXT_COLUMN_LEN
        ? `The column name may have at most ${MAX_TEXT_COLUMN_LEN} characters.`
        : null;
    default: {
      const choices = CHOICES[knob];
      if (choices && !choices.includes(raw)) return `Choose one of: ${choices.join(', ')}.`;
      return null;
    }
  }
}

/** Form text shown for a config value. */
export function toFormValue(value: ConfigValue | undefined): string | boolean {
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.join(' ');
  if (value === null || value === undefined) return '';
  return String(value);
}

/** Converts form text back into the JSON value the engine expects, using the default's type. */
export function fromFormValue(
  knob: string,
  raw: string | boolean,
  fallback: ConfigValue | undefined,
): ConfigValue {
  if (typeof raw === 'boolean') return raw;
  if (knob === 'special_tokens' || Array.isArray(fallback)) return parseTokenList(raw);
  if (knob === 'vocab_size' || knob === 'min_frequency' || typeof fallback === 'number') {
    return Number(raw.trim().replace(/[_\s]/g, ''));
  }
  if (knob === 'text_column' || fallback === null) return raw.trim() === '' ? null : raw.trim();
  return raw;
}

/** Whether two config values are the same (so unchanged knobs are not sent as overrides). */
export function sameValue(a: ConfigValue | undefined, b: ConfigValue | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Validates every knob of a template's form, then the combinations the engine refuses
 * (byte-level pre-tokenizer only with byte-level BPE; WordPiece needs an unknown token).
 * Returns one plain-words problem per field name.
 */
export function validateForm(
  knobs: readonly string[],
  defaults: Record<string, ConfigValue>,
  values: Record<string, string | boolean>,
): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const knob of knobs) {
    const problem = validateKnob(knob, values[knob] ?? '');
    if (problem) problems[knob] = problem;
  }
  // Combination rules only look at fields that are valid on their own.
  const resolved: Record<string, ConfigValue> = { ...defaults };
  for (const knob of knobs) {
    if (!problems[knob]) resolved[knob] = fromFormValue(knob, values[knob] ?? '', defaults[knob]);
  }
  const model = problems.model ? null : resolved.model;
  const preTokenizer = problems.pre_tokenizer ? null : resolved.pre_tokenizer;
  if (typeof model === 'string' && typeof preTokenizer === 'string') {
    if ((model === 'byte_bpe') !== (preTokenizer === 'byte_level')) {
      const field = knobs.includes('pre_tokenizer') ? 'pre_tokenizer' : knobs.includes('model') ? 'model' : '';
      problems[field] ??=
        model === 'byte_bpe'
          ? 'Byte-level BPE needs the byte_level pre-tokenizer.'
          : 'The byte_level pre-tokenizer goes with byte-level BPE only; choose another one.';
    }
  }
  const specials = resolved.special_tokens;
  if (
    model === 'wordpiece' &&
    !problems.special_tokens &&
    Array.isArray(specials) &&
    !specials.some((t) => UNK_TOKENS.includes(t))
  ) {
    problems.special_tokens = 'WordPiece needs an unknown token: add [UNK].';
  }
  return problems;
}
