// End-to-end test: the built UI served by the real engine, driven in Chromium through the launch hand-off.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mintLaunchCode, pythonPath } from './support/engine.mjs';
import { writeCorpus } from './support/corpus.mjs';
import { RESULTS_DIR, useStudio } from './support/studio.mjs';
const TRAINING_TIMEOUT_MS = 180_000;

describe('Tokenizer Studio web UI against the real engine', { timeout: 600_000 }, () => {
  const studio = useStudio({ name: 'studio', screenshot: 'last-state.png' });
  let workDir;
  let engine;
  let browser;
  let page;
  let foreignRequests;
  let cspViolations;
  before(() => ({ workDir, engine, browser, page, foreignRequests, cspViolations } = studio));
  const corpusName = 'e2e-corpus.txt';

  test('health answers with this launch id', async () => {
    const response = await fetch(`${engine.baseUrl}/api/v1/health`);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.status, 'ok');
    assert.equal(body.launch_id, engine.launchId);
  });

  test('the page without a launch code asks to be opened from the app', async () => {
    await page.goto(`${engine.baseUrl}/`);
    await page.getByTestId('unauthorized').waitFor();
    assert.match(await page.getByTestId('unauthorized').innerText(), /must be opened from the Tokenizer Studio app/);
  });

  test('the launch code opens a session and leaves the address bar', async () => {
    const code = await mintLaunchCode(engine);
    await page.goto('about:blank');
    await page.goto(`${engine.baseUrl}/#launch=${code}`);
    await page.getByTestId('datasets-screen').waitFor();
    assert.equal(await page.evaluate(() => window.location.hash), '');
    assert.ok(!page.url().includes(code), 'the launch code must not stay in the URL');
    const cookies = await browser.context.cookies(engine.baseUrl);
    const session = cookies.find((cookie) => cookie.name === `tsession_${engine.port}`);
    assert.ok(session, `expected a tsession_${engine.port} cookie, got ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true);
  });

  test('upload a text dataset with a progress bar, then preview it', async () => {
    const file = path.join(workDir, corpusName);
    const { lines } = await writeCorpus(file, 300_000);
    await page.getByTestId('file-input').setInputFiles(file);
    const item = page.getByTestId('upload-item').first();
    await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    assert.equal(await item.getByTestId('upload-progress').getAttribute('aria-valuenow'), '100');

    const row = page.getByTestId('dataset-row').filter({ hasText: corpusName });
    await row.waitFor();
    // The row count appears once the engine has inspected the file; wait for it.
    const rowsCell = row.getByTestId('dataset-rows');
    const deadline = Date.now() + 30_000;
    let rowsText;
    while ((rowsText = (await rowsCell.innerText()).replace(/[^\d]/g, '')) === '' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(Number(rowsText), lines, `the row count shown (${JSON.stringify(rowsText)})`);

    await row.getByTestId('preview-button').click();
    const preview = page.getByTestId('dataset-preview');
    await preview.waitFor();
    assert.ok((await preview.locator('li').count()) > 0, 'the preview shows rows');
  });

  test('drag and drop: a dropped file is uploaded, an empty one is refused in plain words', async () => {
    const drop = async (name, text) => {
      const dataTransfer = await page.evaluateHandle(
        ([fileName, content]) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([content], fileName, { type: 'text/plain' }));
          return transfer;
        },
        [name, text],
      );
      await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer });
    };

    await drop('dropped.txt', 'A dropped file.\nIt has two lines.\n');
    await page.getByTestId('dataset-row').filter({ hasText: 'dropped.txt' }).waitFor();

    await drop('empty.txt', '');
    const failed = page.getByTestId('upload-item').filter({ hasText: 'empty.txt' });
    await failed.and(page.locator('[data-state="failed"]')).waitFor();
    const message = await failed.getByTestId('upload-error').innerText();
    assert.match(message, /empty/i);
    assert.doesNotMatch(message, /[{}]|Traceback|Error:/, 'a plain-words message, not raw JSON or a trace');
  });

  test('start a gpt2-byte-bpe training with vocabulary 1000 and wait for it to finish', async () => {
    await page.getByTestId('nav-new-training').click();
    await page.getByTestId('new-training-screen').waitFor();
    await page.getByTestId('template-gpt2-byte-bpe').click();

    const vocab = page.getByTestId('knob-vocab_size');
    await vocab.fill('10');
    await page.getByTestId('knob-vocab_size-error').waitFor();
    await vocab.fill('1000');
    assert.equal(await page.getByTestId('knob-vocab_size-error').count(), 0);

    await page.getByTestId('dataset-option').filter({ hasText: corpusName }).locator('input').check();
    await page.getByTestId('job-name').fill('e2e-run');
    await page.getByTestId('start-training').click();

    await page.getByTestId('job-detail').waitFor();
    const status = page.getByTestId('job-status');
    await page
      .locator('[data-testid="job-status"]:is([data-status="succeeded"],[data-status="failed"],[data-status="cancelled"],[data-status="interrupted"])')
      .waitFor({ timeout: TRAINING_TIMEOUT_MS });
    const final = await status.getAttribute('data-status');
    const jobError = (await page.getByTestId('job-error').count()) ? await page.getByTestId('job-error').innerText() : '';
    assert.equal(final, 'succeeded', `job ended ${final}: ${jobError}`);
    assert.equal(await page.getByTestId('job-progress').getAttribute('aria-valuenow'), '100');
    // How long it took, from the job's own start and end times: whole seconds, as they are.
    assert.match(await page.getByTestId('job-elapsed').innerText(), /^under a second$|^\d+ s$|^\d+ min \d+ s$/);
    await page.getByTestId('log-line').first().waitFor();
    await page.getByTestId('job-metrics').waitFor();
  });

  test('download the tokenizer.json artifact', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download-artifact').click(),
    ]);
    const target = path.join(workDir, 'downloaded-tokenizer.json');
    await download.saveAs(target);
    assert.match(download.suggestedFilename(), /tokenizer\.json$/);
    const parsed = JSON.parse(await readFile(target, 'utf8'));
    assert.ok(parsed && typeof parsed === 'object' && 'model' in parsed, 'tokenizer.json has a "model" key');
    const vocab = parsed.model?.vocab;
    assert.ok(vocab && typeof vocab === 'object' && !Array.isArray(vocab), 'a BPE model has a token → id map');
    const size = Object.keys(vocab).length;
    assert.ok(size > 256 && size <= 1000, `byte-level vocabulary of 257..1000 entries, got ${size}`);
  });

  test('export for Transformers: the zip loads with AutoTokenizer and encodes like the app', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('export-transformers').click(),
    ]);
    assert.match(download.suggestedFilename(), /tokenizer\.zip$/);
    const zip = path.join(workDir, 'exported-tokenizer.zip');
    await download.saveAs(zip);
    // What a user's script does with the download: unzip it, load the folder, encode.
    const script = [
      'import json, sys, tempfile, zipfile',
      'from tokenizers import Tokenizer',
      'from transformers import AutoTokenizer, PreTrainedTokenizerFast',
      'out = tempfile.mkdtemp()',
      'with zipfile.ZipFile(sys.argv[1]) as z:',
      '    folder = z.namelist()[0].split("/")[0]',
      '    z.extractall(out)',
      'path = f"{out}/{folder}"',
      'auto = AutoTokenizer.from_pretrained(path)',
      'raw = Tokenizer.from_file(f"{path}/tokenizer.json")',
      'text = sys.argv[2]',
      'print(json.dumps({"fast": isinstance(auto, PreTrainedTokenizerFast), "auto": auto(text)["input_ids"], "raw": raw.encode(text).ids, "eos": auto.eos_token}))',
    ].join('\n');
    const { stdout } = await promisify(execFile)(pythonPath(), ['-c', script, zip, 'The tokenizer reads long sentences.']);
    const loaded = JSON.parse(stdout);
    assert.equal(loaded.fast, true, 'a fast tokenizer over the tokenizer.json');
    assert.ok(loaded.auto.length > 0, 'AutoTokenizer encodes the text');
    assert.deepEqual(loaded.auto, loaded.raw, 'the same ids as the tokenizer.json inside');
    assert.equal(loaded.eos, '<|endoftext|>', 'the byte-level preset\'s end-of-text token has its role');
  });

  test('try it: encoding shows tokens and ids', async () => {
    const text = 'The tokenizer reads long sentences before lunch.';
    await page.getByTestId('try-text').fill(text);
    await page.getByTestId('try-encode').click();
    await page.getByTestId('token-chip').first().waitFor();
    const chips = await page.getByTestId('token-chip').allInnerTexts();
    assert.ok(chips.length > 0, 'tokens are shown');
    const ids = (await page.getByTestId('token-ids').innerText()).trim().split(/\s+/);
    assert.equal(ids.length, chips.length, 'one id per token');
    assert.ok(ids.every((id) => /^\d+$/.test(id)), 'ids are numbers');
    assert.equal(chips.join('').replace(/·/g, ' '), text, 'byte-level chips read back as the text');
    assert.equal(await page.getByTestId('token-decoded').innerText(), text);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'tokenizer-studio.png'), fullPage: true });
  });

  test('the jobs list shows the finished job', async () => {
    await page.getByTestId('nav-jobs').click();
    const row = page.getByTestId('job-row').filter({ hasText: 'e2e-run' });
    await row.waitFor();
    assert.equal(await row.getByTestId('job-row-status').getAttribute('data-status'), 'succeeded');
  });

  test('delete the job after a confirmation: its tokenizer leaves the disk', async () => {
    const row = page.getByTestId('job-row').filter({ hasText: 'e2e-run' });
    await row.getByTestId('open-job').click();
    // The detail shows its id once the job has loaded (a loading screen has none).
    const jobId = await page.locator('[data-testid="job-detail"][data-job-id]').getAttribute('data-job-id');
    const folder = path.join(workDir, 'data', 'artifacts', 'tokenizers', jobId);
    assert.ok(existsSync(path.join(folder, 'tokenizer.json')), `the trained tokenizer is at ${folder}`);
    await page.getByTestId('delete-job').click();
    assert.match(await page.getByTestId('confirm-delete-job-prompt').innerText(), /and its trained tokenizer/);
    await page.getByTestId('confirm-delete-job').click();
    await page.getByTestId('job-row').filter({ hasText: 'e2e-run' }).waitFor({ state: 'detached' });
    assert.equal(existsSync(folder), false, 'the tokenizer folder is gone');
  });

  test('delete the dataset once no job uses it', async () => {
    await page.getByTestId('nav-datasets').click();
    const row = page.getByTestId('dataset-row').filter({ hasText: corpusName });
    await row.getByTestId('delete-button').click();
    await row.getByTestId('confirm-delete-button').click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('dataset-row').filter({ hasText: 'dropped.txt' }).count(), 1);
  });

  test('the page made no request to a non-loopback host', () => {
    assert.deepEqual(foreignRequests, []);
  });

  test('the whole run reported no Content-Security-Policy violation', async () => {
    const response = await fetch(`${engine.baseUrl}/`);
    const policy = response.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(policy.includes(directive), `the UI is served with ${directive}: ${policy}`);
    }
    assert.deepEqual(cspViolations, []);
  });

  test('the policy is enforced: an injected inline script does not run and is reported', async () => {
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__tsInlineRan = true;';
      document.head.append(script);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return window.__tsInlineRan === true;
    });
    assert.equal(ran, false, 'inline script must be blocked');
    await page.waitForTimeout(200);
    assert.ok(
      cspViolations.some((v) => v.directive?.startsWith('script-src') || /script-src/.test(v.console ?? '')),
      `the blocked script is reported: ${JSON.stringify(cspViolations)}`,
    );
  });
});
