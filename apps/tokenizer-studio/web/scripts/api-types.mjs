// Generates src/api/schema.d.ts, the TypeScript types of the API, from the engine's OpenAPI
// schema. The schema comes from importing the engine (`python -m app.openapi`): no server.
//
//   npm run gen:api            rewrite src/api/schema.d.ts
//   npm run gen:api -- --check exit 1 when the committed file differs from a fresh one
//
// The Python is TOKENIZER_STUDIO_PYTHON, else the repo's dev venv (see e2e/support/engine.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS from 'openapi-typescript';
import { API_DIR, WEB_DIR, enginePythonPath, pythonPath } from '../e2e/support/engine.mjs';

export const SCHEMA_TYPES_FILE = path.join(WEB_DIR, 'src', 'api', 'schema.d.ts');

let cachedSchema = null;

/** The OpenAPI document the engine serves at /api/v1/openapi.json (read once per process). */
export function engineSchema() {
  if (cachedSchema) return cachedSchema;
  const python = pythonPath();
  const run = spawnSync(python, ['-m', 'app.openapi'], {
    cwd: API_DIR,
    env: { ...process.env, PYTHONPATH: enginePythonPath() },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw new Error(`Cannot run ${python}: ${run.error.message}`);
  if (run.status !== 0) {
    throw new Error(`\`${python} -m app.openapi\` failed (exit ${run.status}):\n${run.stderr}`);
  }
  cachedSchema = JSON.parse(run.stdout);
  return cachedSchema;
}

/** The text schema.d.ts must hold for the engine as it is now. */
export async function generateTypes() {
  const types = await openapiTS(engineSchema());
  return types.endsWith('\n') ? types : `${types}\n`;
}

/** The first line where two texts differ, for a short message instead of a whole-file diff. */
export function firstDifference(expected, actual) {
  const a = expected.split('\n');
  const b = actual.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    if (a[i] !== b[i]) {
      return `line ${i + 1}: committed ${JSON.stringify(b[i] ?? '<end of file>')}, engine ${JSON.stringify(a[i] ?? '<end of file>')}`;
    }
  }
  return null;
}

async function main(args) {
  const fresh = await generateTypes();
  const relative = path.relative(WEB_DIR, SCHEMA_TYPES_FILE);
  if (args.includes('--check')) {
    const committed = readFileSync(SCHEMA_TYPES_FILE, 'utf8');
    const difference = firstDifference(fresh, committed);
    if (difference) {
      console.error(`${relative} is stale (${difference}); run \`npm run gen:api\` and commit it.`);
      process.exit(1);
    }
    console.log(`${relative} matches the engine's schema.`);
    return;
  }
  writeFileSync(SCHEMA_TYPES_FILE, fresh);
  console.log(`wrote ${relative}`);
}

// Run as a script (not imported by the test).
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  await main(process.argv.slice(2));
}
