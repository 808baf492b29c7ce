// Starts the real Tokenizer Studio engine for the E2E tests and stops it by closing its stdin.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(here, '..', '..');
export const API_DIR = path.resolve(WEB_DIR, '..', 'api');
export const REPO_DIR = path.resolve(WEB_DIR, '..', '..', '..');
// The shared engine packages (enginecore, jobrunner), which a runtime carries in app/ beside the engine's.
export const ENGINEKIT_DIR = path.join(REPO_DIR, 'enginekit');
const READY_PREFIX = 'TOKENIZER_STUDIO_READY ';

/**
 * The Python that runs the engine: env TOKENIZER_STUDIO_PYTHON, else the repo's dev venv
 * (`target/test-venv`, made by `cargo xtask tools venv`).
 */
export function pythonPath() {
  const fromEnv = process.env.TOKENIZER_STUDIO_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = path.join(
    REPO_DIR,
    'target',
    'test-venv',
    process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python',
  );
  if (existsSync(venv)) return venv;
  throw new Error(
    `No Python for the engine: set TOKENIZER_STUDIO_PYTHON, or run \`cargo xtask tools venv\` to create ${venv}.`,
  );
}

/** PYTHONPATH for an engine started from API_DIR: enginekit first, then whatever was set. */
export function enginePythonPath(current = process.env.PYTHONPATH) {
  return [ENGINEKIT_DIR, ...(current ? current.split(path.delimiter) : [])].join(path.delimiter);
}

/**
 * Spawns `python -m app --port 0 --web-dir <dist>` with a fresh data dir and a random token,
 * waits for the READY line and returns { port, token, launchId, baseUrl, stop, output }.
 * `launcher` (a command and its arguments) runs that command line, e.g. inside `unshare`; it
 * must exec it (not fork), so that the child, its pid and its stdin are the engine's.
 */
export async function startEngine({ dataDir, webDir, timeoutMs = 90_000, launcher = [] }) {
  const token = randomBytes(24).toString('hex');
  const launchId = randomBytes(8).toString('hex');
  const command = [...launcher, pythonPath(), '-m', 'app', '--port', '0', '--web-dir', webDir];
  const child = spawn(command[0], command.slice(1), {
    cwd: API_DIR,
    env: {
      ...process.env,
      TOKENIZER_STUDIO_DATA_DIR: dataDir,
      TOKENIZER_STUDIO_RUNTIME_TOKEN: token,
      TOKENIZER_STUDIO_LAUNCH_ID: launchId,
      TOKENIZER_STUDIO_CORS_ORIGINS: '',
      HF_HOME: path.join(dataDir, 'cache', 'huggingface'),
      HF_DATASETS_CACHE: path.join(dataDir, 'cache', 'huggingface', 'datasets'),
      HUGGINGFACE_HUB_CACHE: path.join(dataDir, 'cache', 'huggingface', 'hub'),
      PYTHONUNBUFFERED: '1',
      PYTHONPATH: enginePythonPath(),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  const output = { stdout: '', stderr: '' };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    output.stderr = (output.stderr + chunk).slice(-20_000);
  });
  child.stdout.setEncoding('utf8');

  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const ready = await new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      reject(new Error(`The engine did not announce READY within ${timeoutMs} ms.\n${output.stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk) => {
      output.stdout = (output.stdout + chunk).slice(-20_000);
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line.startsWith(READY_PREFIX)) {
          clearTimeout(timer);
          try {
            resolve(JSON.parse(line.slice(READY_PREFIX.length)));
          } catch (error) {
            reject(new Error(`Unreadable READY line: ${line} (${error})`));
          }
        }
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`The engine exited before READY (code ${code}, signal ${signal}).\n${output.stderr}`));
    });
  });

  const port = ready.port;
  const baseUrl = `http://127.0.0.1:${port}`;

  /** Closes stdin (the contract's "parent gone" signal); kills it if it lingers. */
  async function stop(graceMs = 15_000) {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  }

  return { port, token, launchId, baseUrl, ready, stop, output, child };
}

/** Asks the engine for a single-use launch code, as the desktop shell does. */
export async function mintLaunchCode(engine) {
  const response = await fetch(`${engine.baseUrl}/api/v1/session/launch-code`, {
    method: 'POST',
    headers: { 'X-Tokenizer-Studio-Token': engine.token },
  });
  if (!response.ok) throw new Error(`launch-code answered ${response.status}: ${await response.text()}`);
  const body = await response.json();
  if (typeof body.code !== 'string' || body.code === '') throw new Error(`No code in ${JSON.stringify(body)}`);
  return body.code;
}
