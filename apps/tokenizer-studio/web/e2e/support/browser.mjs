// Launches Debian's Chromium through playwright-core with a fresh profile (no browser download).
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error('Chromium not found: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.');
  }
  return found;
}

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Returns { context, profileDir }; the caller closes the context and removes the directory. */
export async function launchBrowser() {
  const profileDir = await mkdtemp(path.join(os.tmpdir(), 'ts-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath(),
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  return { context, profileDir };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Records every request the page makes to something other than the loopback host. */
export function watchForeignRequests(context) {
  const foreign = [];
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (['data:', 'blob:', 'about:'].includes(url.protocol)) return;
    if (!LOOPBACK.has(url.hostname)) foreign.push(request.url());
  });
  return foreign;
}

/**
 * Records every Content-Security-Policy violation any page of the context reports (the DOM's
 * `securitypolicyviolation` event, and Chromium's console message for the same).
 */
export async function watchCspViolations(context) {
  const violations = [];
  await context.exposeBinding('__tsReportCsp', (_source, violation) => {
    violations.push(violation);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__tsReportCsp({
        directive: event.effectiveDirective,
        blocked: event.blockedURI,
        source: event.sourceFile,
      });
    });
  });
  context.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) {
      violations.push({ console: message.text() });
    }
  });
  return violations;
}
