// End-to-end test of a full disk: the real engine keeps its data folder on a small tmpfs, and
// datasets are uploaded through the UI in Chromium. One is larger than the room left (the engine
// refuses it before writing); for another, a second program fills the disk while it streams in
// (the engine's write fails with ENOSPC). Each time the engine answers 507 disk_full, the page
// shows its sentence and, collapsed, the troubleshooting guide's "Not enough space" section;
// nothing half-written is left in the data folder, and the app keeps working.
// The tmpfs is mounted in the engine's own mount namespace (`unshare`; without root, inside a
// user namespace); where neither is allowed the suite is skipped, saying why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { writeCorpus } from './support/corpus.mjs';
import { mintLaunchCode } from './support/engine.mjs';
import { RESULTS_DIR, useStudio } from './support/studio.mjs';

const MiB = 1024 * 1024;
// The data folder's whole drive, and a dataset that cannot fit on it (far below the engine's
// 1 GiB upload limit, so the only reason to refuse it is the disk).
const DISK_BYTES = 24 * MiB;
const BIG_BYTES = 40 * MiB;
const BIG_NAME = 'too-big-for-the-disk.txt';
const SMALL_NAME = 'fits-on-the-disk.txt';
// A file that fits, sent slowly enough that the disk can fill up under it.
const FILLS_NAME = 'fills-the-disk.txt';
const FILLS_BYTES = 4 * MiB;
const UPLOAD_BYTES_PER_S = 1 * MiB;
const UNTHROTTLED = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };

// statfs(2)'s f_type of a tmpfs.
const TMPFS_MAGIC = 0x01021994;
const UNSHARE = ['/usr/bin/unshare', '/bin/unshare'].find((candidate) => existsSync(candidate));
// A private mount namespace, so the tmpfs is the engine's alone and goes away with it; without
// root, inside a user namespace where this user is root (as the engine's pytest suite does).
const NAMESPACE = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount'];
// `sh -c` mounts the tmpfs on $1 with options $2, then execs the rest of its arguments.
const MOUNT_THEN_EXEC = 'mount -t tmpfs -o "$2" tmpfs "$1" && shift 2 && exec "$@"';

/** The command that mounts a DISK_BYTES tmpfs on `mountPoint` and runs what follows on it. */
function onSmallDisk(mountPoint) {
  return [UNSHARE, ...NAMESPACE, '--', 'sh', '-c', MOUNT_THEN_EXEC, 'sh', mountPoint, `size=${DISK_BYTES},mode=0700`];
}

/** Why this machine cannot run the suite, or null: it tries the mount once. */
function mountProblem() {
  if (process.platform !== 'linux') return 'a small tmpfs in a private mount namespace needs Linux';
  if (!UNSHARE) return '`unshare` (util-linux) is not installed';
  const probe = mkdtempSync(path.join(os.tmpdir(), 'ts-e2e-mount-probe-'));
  try {
    const [command, ...args] = onSmallDisk(probe);
    const result = spawnSync(command, [...args, 'true'], { encoding: 'utf8', timeout: 30_000 });
    if (result.status === 0) return null;
    const why = (result.stderr || result.error?.message || `exit ${result.status}`).trim();
    return process.getuid() === 0
      ? `cannot mount a tmpfs in a private mount namespace: ${why}`
      : `not root, and this system refuses a user namespace to mount a tmpfs in (${why}); run as root`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Files under `folder`, relative to it; the folder must exist. */
async function filesUnder(folder) {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(folder, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

async function freeBytes(folder) {
  const stats = await statfs(folder);
  return stats.bavail * stats.bsize;
}

/** Another program's file: written until the disk answers ENOSPC. */
async function fillUp(file) {
  const handle = await open(file, 'a');
  try {
    for (const size of [MiB, 4096, 1]) {
      const block = Buffer.alloc(size);
      for (;;) {
        try {
          await handle.write(block);
        } catch (error) {
          if (error.code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    await handle.close();
  }
}

const problem = mountProblem();

describe('A full data disk against the real engine', { timeout: 300_000, skip: problem ?? false }, () => {
  // The engine runs on a small tmpfs mounted on `<work dir>/disk`, its data folder in it; the
  // tmpfs goes away with the engine's mount namespace when the harness stops it.
  const studio = useStudio({
    name: 'disk-full',
    dataDir: path.join('disk', 'data'),
    prepare: ({ workDir }) => mkdir(path.join(workDir, 'disk')),
    launcher: ({ workDir }) => onSmallDisk(path.join(workDir, 'disk')),
  });
  let workDir;
  let disk;
  let dataDir;
  // The engine's files as this process sees them: through its mount namespace.
  const seen = (enginePath) => path.join(`/proc/${engine.child.pid}/root`, enginePath);
  let engine;
  let browser;
  let page;
  let foreignRequests;
  let cspViolations;
  before(() => {
    ({ workDir, dataDir, engine, browser, page, foreignRequests, cspViolations } = studio);
    disk = path.join(workDir, 'disk');
  });

  /** The failed upload item of `name` shows the engine's disk_full sentence and, collapsed,
   * the "Not enough space" section; opening it shows what to do. */
  async function expectRefusedForSpace(name, happened) {
    const item = page.getByTestId('upload-item').filter({ hasText: name });
    await item.and(page.locator('[data-state="failed"]')).waitFor({ timeout: 60_000 });
    const message = await item.getByTestId('upload-error').innerText();
    assert.match(message, /^The disk is full: /, `the engine's disk_full sentence, not a network error: ${message}`);
    assert.match(message, happened);
    assert.ok(
      message.endsWith(`; free up space on the drive holding ${dataDir}, then try again.`),
      `names the data folder and what to do: ${message}`,
    );
    assert.doesNotMatch(message, /[{}]|Traceback|Errno|os error|status 507/, 'a plain sentence');

    const help = item.getByTestId('help-section');
    assert.equal(await help.count(), 1, 'the failed upload offers the troubleshooting section');
    assert.equal(await help.getAttribute('data-anchor'), 'not-enough-space');
    assert.equal(await help.evaluate((element) => element.tagName), 'DETAILS');
    assert.equal(await help.evaluate((element) => element.open), false, 'the help starts collapsed');
    const summary = help.locator('summary');
    assert.equal(await summary.innerText(), 'What can I do? (Not enough space)');
    const advice = help.getByText(/free some space on that drive/);
    assert.equal(await advice.count(), 1, 'the section says what to do');
    // The guide's Markdown marks are gone: "*Retry*" reads "Retry".
    const words = await help.evaluate((element) => element.textContent);
    assert.match(words, /then press Retry or start/);
    assert.doesNotMatch(words, /\*/, 'no emphasis mark shows');
    assert.equal(await advice.isVisible(), false, 'its paragraphs are hidden while collapsed');
    await summary.click();
    assert.equal(await help.evaluate((element) => element.open), true);
    await advice.waitFor();
  }

  /** No partial file anywhere in the data folder, and no dataset recorded. */
  async function expectNothingLeft() {
    assert.deepEqual(await filesUnder(seen(path.join(dataDir, 'uploads'))), [], 'the uploads folder is empty');
    assert.deepEqual(await filesUnder(seen(path.join(dataDir, 'tmp'))), [], 'the temporary folder is empty');
    const leftovers = (await filesUnder(seen(dataDir))).filter((name) => /\.(part|tmp)$/.test(name));
    assert.deepEqual(leftovers, []);
    const listed = await page.evaluate(async () => {
      const answer = await fetch('/api/v1/datasets', { headers: { Accept: 'application/json' } });
      return { status: answer.status, body: await answer.json() };
    });
    assert.deepEqual(listed, { status: 200, body: [] }, 'no dataset was recorded');
  }

  test('the data folder is on the small disk, with less room than the dataset needs', async () => {
    const stats = await statfs(seen(dataDir));
    assert.equal(stats.type, TMPFS_MAGIC, 'the data folder is on a tmpfs');
    assert.ok(stats.blocks * stats.bsize <= DISK_BYTES, `a ${DISK_BYTES} byte disk`);
    const free = await freeBytes(seen(dataDir));
    assert.ok(free > 4 * MiB && free < BIG_BYTES, `free on the data disk: ${free} bytes`);
    const code = await mintLaunchCode(engine);
    await page.goto(`${engine.baseUrl}/#launch=${code}`);
    await page.getByTestId('datasets-screen').waitFor();
    await page.getByTestId('no-datasets').waitFor();
  });

  test('an upload larger than the free space is refused with the "Not enough space" help', async () => {
    const file = path.join(workDir, BIG_NAME);
    const { bytes } = await writeCorpus(file, BIG_BYTES);
    const freeBefore = await freeBytes(seen(dataDir));
    assert.ok(bytes > freeBefore, `the file (${bytes} bytes) must not fit in ${freeBefore} free bytes`);

    await page.getByTestId('file-input').setInputFiles(file);
    // The engine checks the declared size against the free space before writing a byte.
    await expectRefusedForSpace(BIG_NAME, /the upload needs [\d.]+ MB but the drive has only [\d.]+ (MB|KB) free/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'upload-disk-full.png'), fullPage: true });
  });

  test('nothing half-written is left and no dataset was recorded', async () => {
    await expectNothingLeft();
    assert.ok((await freeBytes(seen(dataDir))) > 4 * MiB, 'the refused upload does not hold space');
  });

  test('the disk filling up while a file streams in (ENOSPC) gets the same sentence and help', async () => {
    const file = path.join(workDir, FILLS_NAME);
    const { bytes } = await writeCorpus(file, FILLS_BYTES);
    assert.ok(bytes + 2 * MiB < (await freeBytes(seen(dataDir))), 'the file fits when its upload starts');
    // Chromium's own upload throttling (DevTools network conditions, nothing intercepted), so
    // the file is still streaming in when another program fills the disk.
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', { ...UNTHROTTLED, uploadThroughput: UPLOAD_BYTES_PER_S });
    const ballast = seen(path.join(disk, 'ballast'));
    try {
      await page.getByTestId('file-input').setInputFiles(file);
      const uploads = seen(path.join(dataDir, 'uploads'));
      const deadline = Date.now() + 30_000;
      let partial = [];
      while (partial.length === 0 && Date.now() < deadline) {
        partial = (await filesUnder(uploads)).filter((name) => name.endsWith('.part'));
        if (partial.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(partial.length, 1, 'the engine is writing the upload');
      await fillUp(ballast);
      // The engine's next write fails with ENOSPC mid-file; it measures the free space then
      // (none: the precheck's answer would name megabytes).
      await expectRefusedForSpace(FILLS_NAME, /the upload needs [\d.]+ MB but the drive has only \d+ bytes free/);
      await expectNothingLeft();
    } finally {
      await cdp.send('Network.emulateNetworkConditions', UNTHROTTLED);
      await cdp.detach();
      await rm(ballast, { force: true });
    }
  });

  test('the app still works: a file that fits is uploaded, listed and previewed', async () => {
    const file = path.join(workDir, SMALL_NAME);
    const { lines } = await writeCorpus(file, 200_000);
    await page.getByTestId('file-input').setInputFiles(file);
    const item = page.getByTestId('upload-item').filter({ hasText: SMALL_NAME });
    await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });

    // A fresh list from the engine, not only the row the upload added.
    await page.getByTestId('nav-jobs').click();
    await page.getByTestId('jobs-screen').waitFor();
    await page.getByTestId('nav-datasets').click();
    const row = page.getByTestId('dataset-row').filter({ hasText: SMALL_NAME });
    await row.waitFor();
    assert.equal(await page.getByTestId('dataset-row').count(), 1);
    assert.equal(Number((await row.getByTestId('dataset-rows').innerText()).replace(/[^\d]/g, '')), lines);
    await row.getByTestId('preview-button').click();
    await page.getByTestId('dataset-preview').locator('li').first().waitFor();
    const stored = await filesUnder(seen(path.join(dataDir, 'uploads')));
    assert.equal(stored.length, 1);
    assert.match(stored[0], /^ds_[0-9a-f]+\.txt$/);
  });

  test('no foreign request and no Content-Security-Policy violation', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(cspViolations, []);
  });
});
