// End-to-end test of "About this computer" and the app's logs: the built UI and the real engine
// (CPU, no torch), with a machine probe and an earlier run's log written where the shell and the
// supervisor write them.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mintLaunchCode, pythonPath } from './support/engine.mjs';
import { RESULTS_DIR, useStudio } from './support/studio.mjs';

const MACHINE = {
  probe: {
    os: { kind: 'linux', version: 'Debian 13' },
    arch: 'x86_64',
    emulated: false,
    cpu: { name: 'E2E Test CPU', level: 'x86-64-v3', cores: 8 },
    ram_bytes: 16 * 1024 ** 3,
    free_disk_bytes: 120 * 1024 ** 3,
    gpus: [{ vendor: 'NVIDIA', name: 'E2E Test GPU', driver_version: '550.54', compute_capability: '8.6', memory_bytes: 8 * 1024 ** 3 }],
    apple_silicon: false,
  },
  choice: { variant: 'base-cpu', device: 'cpu', reason: 'the CPU engine is the one installed' },
};

/** Python logging's `asctime`: local time, `YYYY-MM-DD HH:MM:SS,mmm`. */
function pythonTime(date) {
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`
  );
}

/** A warning and an error of an earlier run, as the supervisor copied the engine's stderr. */
function plantedEngineLog(now) {
  const line = (secondsAgo, level, text) => {
    const when = new Date(now - secondsAgo * 1000);
    return `${when.toISOString()} stderr | ${pythonTime(when)} ${level} tokenizer_studio: ${text}\n`;
  };
  return line(60, 'WARNING', 'E2E planted warning') + line(59, 'ERROR', 'E2E planted error');
}

describe('About this computer against the real engine', { timeout: 300_000 }, () => {
  // The machine probe and the earlier run's log, where the shell and the supervisor write them.
  const studio = useStudio({
    name: 'about',
    async prepare({ dataDir }) {
      await mkdir(dataDir, { recursive: true });
      await writeFile(path.join(dataDir, 'machine.json'), JSON.stringify(MACHINE));
      await mkdir(path.join(dataDir, 'logs'), { recursive: true });
      await writeFile(path.join(dataDir, 'logs', 'engine.log'), plantedEngineLog(Date.now()));
    },
  });
  let workDir;
  let engine;
  let page;
  let foreignRequests;
  let cspViolations;
  before(() => ({ workDir, engine, page, foreignRequests, cspViolations } = studio));

  test('the header opens the About panel with the engine facts and the CPU device', async () => {
    const code = await mintLaunchCode(engine);
    await page.goto(`${engine.baseUrl}/#launch=${code}`);
    await page.getByTestId('datasets-screen').waitFor();
    await page.getByTestId('nav-about').click();
    await page.getByTestId('about-screen').waitFor();
    await page.getByTestId('engine-facts').waitFor();

    assert.equal(await page.getByTestId('engine-version').innerText(), engine.ready.version);
    assert.match(await page.getByTestId('engine-variant').innerText(), /Standard, for CPU/);
    assert.match(await page.getByTestId('python-version').innerText(), /^CPython 3\.\d+/);
    assert.equal(await page.getByTestId('torch').innerText(), 'not included in this engine');
    assert.equal(await page.getByTestId('device-kind').innerText(), 'CPU');
    assert.ok((await page.getByTestId('device-name').innerText()).trim().length > 0, 'the CPU has a name');
    assert.match(await page.getByTestId('device-check').innerText(), /^passed/);
    assert.equal(await page.getByTestId('device-check-error').count(), 0);
  });

  test('the machine probe and the app\'s choice are shown', async () => {
    assert.equal(await page.getByTestId('machine-os').innerText(), 'linux Debian 13');
    assert.match(await page.getByTestId('machine-cpu').innerText(), /E2E Test CPU \(8 cores, x86-64-v3\)/);
    assert.equal(await page.getByTestId('machine-ram').innerText(), '16 GB');
    assert.match(await page.getByTestId('machine-gpus').innerText(), /NVIDIA E2E Test GPU \(driver 550\.54, compute capability 8\.6, 8\.0 GB memory\)/);
    const choice = await page.getByTestId('machine-choice').innerText();
    assert.match(choice, /base-cpu/);
    assert.match(choice, /the CPU engine is the one installed/);
  });

  test('Check compute shows a GFLOP/s figure for the CPU', async () => {
    await page.getByTestId('check-compute').click();
    const result = page.getByTestId('compute-result');
    await result.waitFor({ timeout: 30_000 });
    const text = await result.innerText();
    const match = text.match(/^([\d,.]+) GFLOP\/s on (.+?) \(/);
    assert.ok(match, `a GFLOP/s figure: ${JSON.stringify(text)}`);
    assert.ok(Number(match[1].replace(/,/g, '')) > 0, text);
    assert.equal(match[2], await page.getByTestId('device-name').innerText());
    assert.equal(await page.getByTestId('compute-error').count(), 0);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'about-this-computer.png'), fullPage: true });
  });

  test('the data folder and the size of each part are shown', async () => {
    const card = page.getByTestId('storage');
    await card.getByTestId('storage-part').first().waitFor();
    assert.equal(await card.getByTestId('storage-data-dir').innerText(), path.join(workDir, 'data'));
    const parts = await card.getByTestId('storage-part').evaluateAll((rows) => rows.map((row) => row.dataset.part));
    assert.deepEqual(parts, ['uploads', 'tokenizers', 'database', 'logs', 'cache', 'engines']);
    // The engine's database and log exist from its start; nothing was uploaded yet.
    const size = (part) => card.locator(`[data-part="${part}"]`).getByTestId('storage-bytes').innerText();
    assert.notEqual(await size('database'), '0 B');
    assert.equal(await size('uploads'), '0 B');
  });

  test('Clear caches, once confirmed, removes a cached file and the storage figures follow', async () => {
    // Planted while the engine runs, as a library writing its cache would.
    const cacheDir = path.join(workDir, 'data', 'cache', 'huggingface', 'datasets');
    await mkdir(cacheDir, { recursive: true });
    const planted = path.join(cacheDir, 'e2e-planted.arrow');
    await writeFile(planted, Buffer.alloc(3 * 1024 * 1024, 1));
    // Open About again so the figures count the planted file.
    await page.getByTestId('nav-datasets').click();
    await page.getByTestId('datasets-screen').waitFor();
    await page.getByTestId('nav-about').click();
    const card = page.getByTestId('storage');
    const cacheSize = card.locator('[data-part="cache"]').getByTestId('storage-bytes');
    await cacheSize.waitFor();
    assert.match(await cacheSize.innerText(), /^3\.\d MB$/);

    await card.getByTestId('clear-caches').click();
    const prompt = card.getByTestId('confirm-clear-caches-prompt');
    await prompt.waitFor();
    // Nothing goes before the user confirms.
    assert.ok(existsSync(planted), 'the file stays until confirmed');
    await prompt.getByTestId('confirm-clear-caches').click();
    const said = card.getByTestId('clear-caches-said');
    await said.waitFor();
    assert.match(await said.innerText(), /^Freed 3\.\d MB\./);
    assert.equal(existsSync(planted), false, 'the cached file is gone');
    assert.equal(await card.getByTestId('clear-caches-error').count(), 0);
    await page.waitForFunction(
      () => document.querySelector('[data-part="cache"] [data-testid="storage-bytes"]')?.textContent === '0 B',
    );
    // The user's data is not a cache: the database is still there.
    assert.notEqual(await card.locator('[data-part="database"]').getByTestId('storage-bytes').innerText(), '0 B');
  });

  test('Export diagnostics downloads a zip of logs and facts without the access token', async () => {
    const card = page.getByTestId('get-help');
    const [download] = await Promise.all([page.waitForEvent('download'), card.getByTestId('export-diagnostics').click()]);
    assert.match(download.suggestedFilename(), /^tokenizer-studio-diagnostics-\d{8}T\d{6}Z\.zip$/);
    const zip = path.join(workDir, 'diagnostics.zip');
    await download.saveAs(zip);
    // Read it as whoever receives it would: unzip and look.
    const script = [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'texts = {n: z.read(n).decode() for n in z.namelist()}',
      'print(json.dumps({"names": sorted(texts), "token": any(sys.argv[2] in t for t in texts.values()),',
      '  "engine_log": "server.log" in texts["logs.txt"], "cpu": json.loads(texts["system.json"])["cpu"]["logical_cores"]}))',
    ].join('\n');
    const { stdout } = await promisify(execFile)(pythonPath(), ['-c', script, zip, engine.token]);
    const found = JSON.parse(stdout);
    assert.deepEqual(found.names, ['README.txt', 'jobs.json', 'logs.txt', 'runtime.json', 'system.json']);
    assert.equal(found.token, false, 'the access token is in no part of the zip');
    assert.equal(found.engine_log, true, "the engine's log is merged in");
    assert.ok(found.cpu > 0, 'the system facts name the CPU cores');
  });

  test("the app's logs show the engine's start-up and filter down to the planted error", async () => {
    await page.getByTestId('nav-about').click();
    await page.getByTestId('get-help').getByTestId('open-logs').click();
    await page.getByTestId('logs-screen').waitFor();
    const lines = page.getByTestId('app-log-line');
    await lines.first().waitFor();
    const all = await lines.evaluateAll((rows) =>
      rows.map((row) => ({ source: row.dataset.source, level: row.dataset.level, text: row.innerText })),
    );
    // The engine's own start-up, from its server.log, after the planted lines of an earlier run.
    const listening = all.findIndex(
      (line) => line.source === 'server' && line.text.includes(`listening on http://127.0.0.1:${engine.port}`),
    );
    assert.ok(listening >= 0, JSON.stringify(all.slice(-20)));
    const planted = all.findIndex((line) => line.text.includes('E2E planted error'));
    assert.ok(planted >= 0 && planted < listening, 'merged by time: the earlier run comes first');
    assert.equal(all[planted].level, 'ERROR');
    assert.ok(all.some((line) => line.text.includes('E2E planted warning')));
    // Newest at the bottom, and that is where the box is scrolled.
    const scrolled = await page
      .getByTestId('app-logs')
      .evaluate((box) => box.scrollHeight - box.scrollTop - box.clientHeight < 4);
    assert.ok(scrolled, 'the box shows its newest lines');
    assert.ok(!(await page.getByTestId('app-logs').innerText()).includes(engine.token), 'no access token');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'app-logs.png'), fullPage: true });

    await page.getByTestId('logs-level').selectOption('error');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="app-log-line"]')];
      return rows.length > 0 && rows.every((row) => row.dataset.level === 'ERROR');
    });
    const errors = await lines.evaluateAll((rows) => rows.map((row) => row.innerText));
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0], /ERROR\s+tokenizer_studio: E2E planted error$/);

    await page.getByTestId('logs-level').selectOption('warning');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="app-log-line"]').length >= 2);
    const warnings = await lines.evaluateAll((rows) => rows.map((row) => row.dataset.level));
    assert.deepEqual(warnings.slice(0, 2), ['WARNING', 'ERROR']);

    await page.getByTestId('back-to-about').click();
    await page.getByTestId('about-screen').waitFor();
  });

  test('no foreign request and no Content-Security-Policy violation', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(cspViolations, []);
  });
});
