// The harness every E2E file shares: the real engine on a fresh data folder, serving the built UI
// to a fresh Chromium whose requests and Content-Security-Policy violations are recorded; after
// the suite, a screenshot of the page's last state, and everything closed and removed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { launchBrowser, watchCspViolations, watchForeignRequests } from './browser.mjs';
import { startEngine, WEB_DIR } from './engine.mjs';

export const DIST_DIR = path.join(WEB_DIR, 'dist');
/** Where the tests' screenshots go. */
export const RESULTS_DIR = path.join(WEB_DIR, 'test-results');

/**
 * Registers, in the enclosing `describe`, a `before` hook that starts it all and an `after` hook
 * that screenshots the last state, closes Chromium, stops the engine (asserting it exits 0 once
 * its stdin closes) and removes the work folder. Returns the harness, whose fields are set once
 * `before` has run:
 *   workDir          a fresh temporary folder, removed after the suite
 *   dataDir          the engine's data folder, inside workDir
 *   engine           what `startEngine` returns
 *   browser          { context, profileDir }, as `launchBrowser` returns
 *   page             the context's page, 30 s default timeout
 *   foreignRequests  every request to a non-loopback host, as it happens
 *   cspViolations    every Content-Security-Policy violation, as it happens
 *
 * Options:
 *   name        the work folder is `ts-e2e-<name>-*`
 *   screenshot  the last state's file in RESULTS_DIR (default `<name>-last-state.png`)
 *   dataDir     the data folder, relative to the work folder (default `data`)
 *   prepare     async ({ workDir, dataDir }) => …, run before the engine starts
 *   launcher    ({ workDir, dataDir }) => the command the engine runs inside (`startEngine`'s)
 */
export function useStudio({ name, screenshot = `${name}-last-state.png`, dataDir = 'data', prepare, launcher } = {}) {
  const studio = {
    workDir: undefined,
    dataDir: undefined,
    engine: undefined,
    browser: undefined,
    page: undefined,
    foreignRequests: [],
    cspViolations: [],
  };

  before(async () => {
    assert.ok(existsSync(path.join(DIST_DIR, 'index.html')), 'Build the UI first: npm run build');
    studio.workDir = await mkdtemp(path.join(os.tmpdir(), `ts-e2e-${name}-`));
    await mkdir(RESULTS_DIR, { recursive: true });
    studio.dataDir = path.join(studio.workDir, dataDir);
    const where = { workDir: studio.workDir, dataDir: studio.dataDir };
    await prepare?.(where);
    studio.engine = await startEngine({
      dataDir: studio.dataDir,
      webDir: DIST_DIR,
      ...(launcher ? { launcher: launcher(where) } : {}),
    });
    studio.browser = await launchBrowser();
    studio.foreignRequests = watchForeignRequests(studio.browser.context);
    studio.cspViolations = await watchCspViolations(studio.browser.context);
    studio.page = studio.browser.context.pages()[0] ?? (await studio.browser.context.newPage());
    studio.page.setDefaultTimeout(30_000);
  });

  after(async () => {
    const { workDir, engine, browser, page } = studio;
    if (page && !page.isClosed()) {
      await page.screenshot({ path: path.join(RESULTS_DIR, screenshot), fullPage: true }).catch(() => {});
    }
    await browser?.context.close().catch(() => {});
    if (browser) await rm(browser.profileDir, { recursive: true, force: true }).catch(() => {});
    if (engine) {
      const exit = await engine.stop();
      assert.equal(exit.code, 0, `engine should exit 0 when its stdin closes\n${engine.output.stderr}`);
    }
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  });

  return studio;
}
