// "Try it": encode some text with the tokenizer and show its tokens as chips and its ids.
import { useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { TryResult } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage';
import { tokenLabel } from './tokenText';

const MAX_CHARS = 100_000;

interface Props {
  jobId: string;
}

export function TryIt({ jobId }: Props) {
  const [text, setText] = useState('Hello world! Tokenizers split text into pieces.');
  const [result, setResult] = useState<TryResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const tooLong = text.length > MAX_CHARS;
  // The engine says whether the tokens are spelled with GPT-2's byte characters (a byte-level
  // tokenizer, trained or imported): those chips show the text they stand for.
  const byteLevel = result?.byte_level ?? false;

  const encode = async (event: FormEvent) => {
    event.preventDefault();
    if (tooLong || text.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      setResult(await api.tryTokenizer(jobId, text));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="try" onSubmit={(event) => void encode(event)} aria-labelledby="try-title">
      <h3 id="try-title">Try it</h3>
      <label htmlFor="try-text">Text to encode</label>
      <textarea
        id="try-text"
        rows={4}
        value={text}
        data-testid="try-text"
        aria-invalid={tooLong ? true : undefined}
        onChange={(event) => setText(event.currentTarget.value)}
      />
      {tooLong && <p className="field-error">Use at most {MAX_CHARS.toLocaleString('en-US')} characters.</p>}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy || tooLong || text.length === 0} data-testid="try-encode">
          {busy ? 'Encoding…' : 'Encode'}
        </button>
      </div>
      <ErrorMessage message={error} testId="try-error" />
      {result && (
        <div className="try-result" data-testid="try-result" aria-live="polite">
          <p className="muted">
            {result.tokens.length.toLocaleString('en-US')} tokens for {text.length.toLocaleString('en-US')} characters
          </p>
          <ul className="chips" aria-label="Tokens" data-testid="token-chips">
            {result.tokens.map((token, index) => (
              <li
                key={index}
                className={`chip chip-${index % 6}`}
                data-testid="token-chip"
                data-token={token}
                title={`${token} (id ${result.ids[index]})`}
              >
                {tokenLabel(token, byteLevel)}
              </li>
            ))}
          </ul>
          {byteLevel && (
            <p className="hint">Tokens are shown as the text they stand for; point at one to see its raw form and id.</p>
          )}
          <h4>Ids</h4>
          <p className="ids" data-testid="token-ids">{result.ids.join(' ')}</p>
          <h4>Decoded</h4>
          <p className="decoded" data-testid="token-decoded">{result.decoded}</p>
        </div>
      )}
    </form>
  );
}
