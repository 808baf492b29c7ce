// End-to-end test of a training that goes wrong for reasons the user caused and can fix: the
// built UI and the real engine in Chromium. A CSV whose column named `text` holds only empty
// values is uploaded (its other column, `title`, has words, so the upload takes it). A training
// on the empty `text` column, typed into the form, is refused before any job exists, in words,
// as the Datasets screen refuses that column. Then the dataset's file goes missing from the data
// folder (deleted by hand or by a clean-up program) and a training on the dataset's own column
// fails. The failed job's page must say it ended (no progress bar, no phase still "running"),
// lead with the engine's plain sentence, keep the troubleshooting guide's "Training failed"
// section collapsed under it and the technical log under a closed "Show details", and show no
// trace.
import assert from 'node:assert/strict';
import { readdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { mintLaunchCode } from './support/engine.mjs';
import { RESULTS_DIR, useStudio } from './support/studio.mjs';
const TRAINING_TIMEOUT_MS = 120_000;
const CSV_NAME = 'articles-without-text.csv';
const ROWS = 40;
const JOB_NAME = 'dataset file gone';
// routes/jobs.py `_ensure_text_column`: the column holds no text, and what to set instead.
const REFUSAL =
  `The column 'text' of dataset '${CSV_NAME}' holds no text: set the text column to one of its ` +
  'text columns (title), or leave it empty to use the column chosen on the Datasets screen.';
// jobs.py `_headline` for a dataset file that cannot be read: what happened and what to do.
const SENTENCE =
  'Training failed: a dataset file could not be read; it may have been moved, deleted or damaged. ' +
  'Upload it again, then start a new job.';
// What `_fail` writes to the job's log before the sentence: the technical message.
const TECHNICAL = /^Error: FileNotFoundError: \[Errno 2\] No such file or directory: '.*\/uploads\/ds_[0-9a-f]+\.csv'$/;
// "Took …" from the job's timestamps, which are whole seconds.
const ELAPSED = /^(under a second|\d+ s|\d+ min \d+ s|\d+ h \d+ min)$/;

/** A spreadsheet export whose text column came out empty: titles, and `text` blank in every row. */
function csvWithEmptyTextColumn() {
  const rows = ['title,text'];
  for (let i = 1; i <= ROWS; i += 1) rows.push(`Article number ${i} about rivers,`);
  return `${rows.join('\r\n')}\r\n`;
}

/** True when `first` comes before `second` in the document. */
async function precedes(first, second) {
  const other = await second.elementHandle();
  return first.evaluate(
    (element, next) => Boolean(element.compareDocumentPosition(next) & Node.DOCUMENT_POSITION_FOLLOWING),
    other,
  );
}

describe('A training job that fails on the user\'s data, against the real engine', { timeout: 300_000 }, () => {
  const studio = useStudio({ name: 'job-failed' });
  let workDir;
  let dataDir;
  let engine;
  let page;
  let foreignRequests;
  let cspViolations;
  before(() => ({ workDir, dataDir, engine, page, foreignRequests, cspViolations } = studio));
  let jobId;
  let datasetId;

  test('the CSV is uploaded: its `title` column has text, its `text` column none', async () => {
    const code = await mintLaunchCode(engine);
    await page.goto(`${engine.baseUrl}/#launch=${code}`);
    await page.getByTestId('datasets-screen').waitFor();
    const file = path.join(workDir, CSV_NAME);
    await writeFile(file, csvWithEmptyTextColumn(), 'utf8');
    await page.getByTestId('file-input').setInputFiles(file);
    const item = page.getByTestId('upload-item').filter({ hasText: CSV_NAME });
    await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    const row = page.getByTestId('dataset-row').filter({ hasText: CSV_NAME });
    await row.waitFor();
    assert.equal(Number((await row.getByTestId('dataset-rows').innerText()).replace(/[^\d]/g, '')), ROWS);
    // The engine picked the column that has words; the user will ask for `text` instead.
    assert.equal(await row.getByTestId('text-column-select').inputValue(), 'title');
    datasetId = await row.getAttribute('data-dataset-id');
  });

  test('a training on the empty `text` column is refused from the form, in words, before any job', async () => {
    await page.getByTestId('nav-new-training').click();
    await page.getByTestId('new-training-screen').waitFor();
    await page.getByTestId('template-gpt2-byte-bpe').click();
    await page.getByTestId('knob-vocab_size').fill('300');
    await page.getByTestId('knob-text_column').fill('text');
    const option = page.getByTestId('dataset-option').filter({ hasText: CSV_NAME });
    await option.locator('input').check();
    await page.getByTestId('job-name').fill(JOB_NAME);
    await page.getByTestId('start-training').click();

    const refusal = page.getByTestId('start-error');
    await refusal.waitFor();
    assert.equal(await refusal.innerText(), REFUSAL);
    assert.equal(
      await page.getByTestId('knob-text_column-error').innerText(),
      `Text column 'text' holds no text in dataset '${CSV_NAME}'.`,
    );
    assert.equal(await page.getByTestId('job-detail').count(), 0, 'the form stays open');
    const jobs = await page.evaluate(async () => (await fetch('/api/v1/jobs', { headers: { Accept: 'application/json' } })).json());
    assert.deepEqual(jobs, [], 'no job was created');
  });

  test('with the dataset\'s file gone from the data folder, a training on its own column fails', async () => {
    // Outside the app, as a clean-up program or a user tidying folders would.
    await unlink(path.join(dataDir, 'uploads', `${datasetId}.csv`));
    // Back to the dataset's own text column: the field left empty.
    await page.getByTestId('knob-text_column').fill('');
    await page.getByTestId('start-training').click();

    const detail = page.locator('[data-testid="job-detail"][data-job-id]');
    await detail.waitFor();
    jobId = await detail.getAttribute('data-job-id');
    await page
      .locator('[data-testid="job-status"]:is([data-status="succeeded"],[data-status="failed"],[data-status="cancelled"],[data-status="interrupted"])')
      .waitFor({ timeout: TRAINING_TIMEOUT_MS });
    assert.equal(await page.getByTestId('job-status').getAttribute('data-status'), 'failed');
    assert.equal(await page.getByTestId('job-title').innerText(), JOB_NAME);
  });

  test('the failed job says it ended: no phase still going, no progress bar, whole seconds', async () => {
    const phase = page.getByTestId('job-phase');
    assert.equal(await phase.getAttribute('data-phase'), 'reading');
    assert.equal(await phase.innerText(), 'Failed while reading the datasets');
    assert.equal(await page.getByTestId('job-progress').count(), 0, 'no bar stopped part-way');
    assert.equal(await page.locator('[data-testid="job-detail"] [role="progressbar"]').count(), 0);
    const elapsed = await page.getByTestId('job-elapsed').innerText();
    assert.match(elapsed, ELAPSED, 'no precision the whole-second timestamps do not have');
  });

  test('the failed job leads with the plain sentence, not a trace', async () => {
    const error = page.getByTestId('job-error');
    assert.equal(await error.count(), 1);
    assert.equal(await error.innerText(), SENTENCE);
    assert.equal(await error.getAttribute('role'), 'alert');
    // The only alert on the job's page: nothing else competes with it.
    assert.equal(await page.locator('[data-testid="job-detail"] [role="alert"]').count(), 1);
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /Traceback/);
    assert.doesNotMatch(text, /File "/);
    assert.doesNotMatch(text, /line \d+, in /);
    // No tokenizer is offered, and none was saved.
    assert.equal(await page.getByTestId('artifact-panel').count(), 0);
    assert.equal(await page.getByTestId('download-artifact').count(), 0);
    assert.deepEqual(await readdir(path.join(dataDir, 'artifacts', 'tokenizers')), [], 'nothing was saved');
  });

  test('the "Training failed" help sits under the sentence, collapsed until opened', async () => {
    const help = page.getByTestId('help-section');
    assert.equal(await help.count(), 1, 'a failed job offers the troubleshooting section');
    assert.equal(await help.getAttribute('data-anchor'), 'training-failed');
    assert.equal(await help.evaluate((element) => element.tagName), 'DETAILS');
    assert.equal(await help.evaluate((element) => element.open), false, 'the help starts collapsed');
    assert.equal(await help.locator('summary').innerText(), 'What can I do? (Training failed)');
    const advice = help.getByText(/follow the sentence: choose the text column in/);
    assert.equal(await advice.count(), 1, 'the section says what to do');
    assert.equal(await advice.isVisible(), false, 'its paragraphs are hidden while collapsed');
    assert.ok(await precedes(page.getByTestId('job-error'), help), 'the sentence comes first, the help after it');
    // The guide's Markdown marks are gone: "*Datasets*" reads "Datasets".
    const words = await help.evaluate((element) => element.textContent);
    assert.match(words, /choose the text column in Datasets,/);
    assert.doesNotMatch(words, /\*/, 'no emphasis mark shows');
  });

  test('the technical message waits under a closed "Show details", below the sentence and the help', async () => {
    const details = page.getByTestId('job-log-details');
    assert.equal(await details.count(), 1);
    assert.equal(await details.evaluate((element) => element.tagName), 'DETAILS');
    assert.equal(await details.evaluate((element) => element.open), false, 'the log starts collapsed');
    const summary = details.locator('summary');
    assert.equal(await summary.innerText(), 'Show details');
    const log = details.getByTestId('job-logs');
    const technical = log.getByTestId('log-line').filter({ hasText: 'Error: FileNotFoundError: ' });
    await technical.waitFor({ state: 'attached' });
    assert.equal(await technical.count(), 1);
    assert.equal(await technical.isVisible(), false, 'the technical line is hidden while collapsed');
    assert.doesNotMatch(await page.locator('body').innerText(), /FileNotFoundError|Errno/);
    assert.doesNotMatch(await page.getByTestId('job-error').innerText(), /Error:/);
    assert.ok(await precedes(page.getByTestId('help-section'), details), 'the details come after the help');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'web-job-failed.png'), fullPage: true });

    await summary.click();
    assert.equal(await details.evaluate((element) => element.open), true);
    await technical.waitFor();
    // React renders the new label after the toggle event: wait for it, then check it.
    await details.locator('summary', { hasText: 'Hide details' }).waitFor({ timeout: 5000 });
    assert.equal(await summary.innerText(), 'Hide details');
    // The log repeats the sentence after the technical line, which names no private class.
    const lines = await log.getByTestId('log-line').locator('span:not(.log-time)').allInnerTexts();
    const at = lines.findIndex((line) => TECHNICAL.test(line));
    assert.ok(at >= 0, `the technical line: ${JSON.stringify(lines)}`);
    assert.equal(lines[at + 1], SENTENCE, `the sentence follows the technical line: ${JSON.stringify(lines)}`);
    assert.equal(await page.getByTestId('job-logs').count(), 1, 'one log, the one in the details');
  });

  test('opening the help shows what to do; the jobs list shows the job failed', async () => {
    const help = page.getByTestId('help-section');
    await help.locator('summary').click();
    assert.equal(await help.evaluate((element) => element.open), true);
    await help.getByText(/follow the sentence: choose the text column in/).waitFor();
    await help.getByText(/Still stuck\?/).waitFor();

    await page.getByTestId('back-to-jobs').click();
    const row = page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId('job-row-status').getAttribute('data-status'), 'failed');
    // Where a running job has its bar, an ended one says when it ended.
    assert.equal(await row.getByRole('progressbar').count(), 0);
    assert.equal(await row.getByTestId('job-row-ended').innerText(), 'Failed while reading the datasets');
    assert.equal(await page.getByTestId('job-row').count(), 1, 'the refused training left no job');
  });

  test('no foreign request and no Content-Security-Policy violation', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(cspViolations, []);
  });
});
