// End-to-end test of importing a tokenizer.json: the built UI and the real engine, a real
// tokenizer.json made by Hugging Face tokenizers, and a file that is not one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { mintLaunchCode, pythonPath } from './support/engine.mjs';
import { RESULTS_DIR, useStudio } from './support/studio.mjs';
const SAMPLE = 'The imported tokenizer reads long sentences before lunch.';

// A GPT-2 style byte-level BPE trained by the tokenizers library, saved as tokenizer.json, and
// the ids the library gives SAMPLE: what the app must show for it.
const MAKE_TOKENIZER = `
import json, sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
words = "the tokenizer reads long sentences before lunch imported studio text pieces".split()
texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) for i in range(400)]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.post_processor = processors.ByteLevel(trim_offsets=False)
tok.train_from_iterator(texts, trainers.BpeTrainer(
    vocab_size=400, special_tokens=["<|endoftext|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
tok.save(sys.argv[1])
print(json.dumps({"ids": tok.encode(sys.argv[2]).ids, "vocab_size": tok.get_vocab_size()}))
`;

describe('Importing a tokenizer.json against the real engine', { timeout: 300_000 }, () => {
  const studio = useStudio({ name: 'import' });
  let workDir;
  let dataDir;
  let engine;
  let page;
  let foreignRequests;
  let cspViolations;
  before(() => ({ workDir, dataDir, engine, page, foreignRequests, cspViolations } = studio));
  let expected;
  let jobId;

  test('the jobs screen offers to import a tokenizer.json', async () => {
    const code = await mintLaunchCode(engine);
    await page.goto(`${engine.baseUrl}/#launch=${code}`);
    await page.getByTestId('datasets-screen').waitFor();
    await page.getByTestId('nav-jobs').click();
    await page.getByTestId('jobs-screen').waitFor();
    await page.getByTestId('no-jobs').waitFor();
    assert.equal(await page.getByTestId('import-tokenizer').innerText(), 'Import tokenizer.json…');
  });

  test('a real tokenizer.json is imported and opens like a trained tokenizer', async () => {
    const file = path.join(workDir, 'my-gpt2-style.json');
    const { stdout } = await promisify(execFile)(pythonPath(), ['-c', MAKE_TOKENIZER, file, SAMPLE]);
    expected = JSON.parse(stdout);

    await page.getByTestId('import-tokenizer-input').setInputFiles(file);
    const detail = page.locator('[data-testid="job-detail"][data-job-id]');
    await detail.waitFor();
    jobId = await detail.getAttribute('data-job-id');
    assert.equal(await page.getByTestId('job-title').innerText(), 'my-gpt2-style');
    assert.equal(await page.getByTestId('job-status').getAttribute('data-status'), 'succeeded');
    assert.equal(await page.getByTestId('job-template').innerText(), 'Imported tokenizer.json');
    // Nothing was trained: no phase, progress bar or training log.
    assert.equal(await page.getByTestId('job-phase').count(), 0);
    assert.equal(await page.getByTestId('job-progress').count(), 0);
    assert.equal(await page.getByTestId('job-logs').count(), 0);
    const metrics = await page.getByTestId('job-metrics').innerText();
    assert.match(metrics, /Model type\s+BPE/);
    assert.match(metrics, new RegExp(`Vocabulary size\\s+${expected.vocab_size}`));
    await page.getByTestId('artifact-panel').waitFor();
    assert.ok(existsSync(path.join(dataDir, 'artifacts', 'tokenizers', jobId, 'tokenizer.json')));
  });

  test('try it gives the ids of the tokenizers library, tokens shown as text', async () => {
    await page.getByTestId('try-text').fill(SAMPLE);
    await page.getByTestId('try-encode').click();
    await page.getByTestId('token-chip').first().waitFor();
    const ids = (await page.getByTestId('token-ids').innerText()).trim().split(/\s+/).map(Number);
    assert.deepEqual(ids, expected.ids);
    const chips = await page.getByTestId('token-chip').allInnerTexts();
    assert.equal(chips.join('').replace(/·/g, ' '), SAMPLE, 'byte-level chips read back as the text');
    assert.equal(await page.getByTestId('token-decoded').innerText(), SAMPLE);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'imported-tokenizer.png'), fullPage: true });
  });

  test('the jobs list shows it as imported', async () => {
    await page.getByTestId('back-to-jobs').click();
    const row = page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId('job-row-template').innerText(), 'Imported');
    assert.equal(await row.getByTestId('job-row-status').getAttribute('data-status'), 'succeeded');
  });

  test('a file that is not a tokenizer is refused in a sentence, and nothing is kept', async () => {
    const file = path.join(workDir, 'tokenizer_config.json');
    await writeFile(file, JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast', unk_token: '[UNK]' }));
    await page.getByTestId('import-tokenizer-input').setInputFiles(file);
    const error = page.getByTestId('import-error');
    await error.waitFor();
    const message = await error.innerText();
    assert.match(message, /not a tokenizer the Hugging Face tokenizers library can load/);
    assert.doesNotMatch(message, /[{}]|Traceback|Error:|line 1/, 'a plain sentence, not raw JSON or a trace');
    assert.equal(await page.getByTestId('jobs-screen').count(), 1, 'the page stays on the jobs list');
    assert.equal(await page.getByTestId('job-row').count(), 1);
    assert.deepEqual(await readdir(path.join(dataDir, 'artifacts', 'tokenizers')), [jobId]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'import-refused.png'), fullPage: true });
  });

  test('the imported tokenizer is deleted after a confirmation', async () => {
    await page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`).getByTestId('open-job').click();
    await page.locator(`[data-testid="job-detail"][data-job-id="${jobId}"]`).waitFor();
    await page.getByTestId('delete-job').click();
    assert.match(await page.getByTestId('confirm-delete-job-prompt').innerText(), /imported tokenizer/);
    await page.getByTestId('confirm-delete-job').click();
    await page.getByTestId('no-jobs').waitFor();
    assert.deepEqual(await readdir(path.join(dataDir, 'artifacts', 'tokenizers')), []);
  });

  test('no foreign request and no Content-Security-Policy violation', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(cspViolations, []);
  });
});
