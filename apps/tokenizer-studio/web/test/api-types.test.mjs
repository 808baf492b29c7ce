// The committed API types (src/api/schema.d.ts) must be what the engine's schema generates:
// a response model changed without `npm run gen:api` fails here, before the UI is built on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { SCHEMA_TYPES_FILE, engineSchema, firstDifference, generateTypes } from '../scripts/api-types.mjs';

test('src/api/schema.d.ts matches the schema the engine generates', async () => {
  const committed = readFileSync(SCHEMA_TYPES_FILE, 'utf8');
  const fresh = await generateTypes();
  const difference = firstDifference(fresh, committed);
  assert.equal(
    difference,
    null,
    `src/api/schema.d.ts is stale (${difference}): run \`npm run gen:api\` in apps/tokenizer-studio/web and commit the result.`,
  );
});

test('the schema describes every response the UI reads', () => {
  const schemas = engineSchema().components.schemas;
  for (const name of ['Dataset', 'DatasetPreview', 'Template', 'Job', 'LogPage', 'TryResult', 'SessionState', 'ErrorResponse']) {
    assert.ok(schemas[name], `no ${name} in the schema`);
  }
  assert.deepEqual(schemas.JobStatus.enum, ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']);
});

test('a stale file is reported at its first differing line', () => {
  assert.equal(firstDifference('a\nb\n', 'a\nb\n'), null);
  assert.match(firstDifference('a\nb\n', 'a\nc\n'), /^line 2: committed "c", engine "b"$/);
  assert.match(firstDifference('a\n', 'a\nextra\n'), /^line 2: committed "extra", engine ""$/);
});
