// Every troubleshooting section the UI links to exists in docs/troubleshooting.md, with what
// the user sees, why, and what to do.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GUIDE = path.resolve(WEB_DIR, '..', '..', '..', 'docs', 'troubleshooting.md');

const slug = (title) => title.trim().toLowerCase().replace(/ /g, '-').replace(/[^\p{L}\p{N}_-]/gu, '');

test('each anchor the UI links to is a section with what you see, why and what to do', async () => {
  const guide = await readFile(GUIDE, 'utf8');
  const source = await readFile(path.join(WEB_DIR, 'src', 'troubleshooting.ts'), 'utf8');
  const list = source.match(/HELP_ANCHORS = \[([^\]]*)\]/);
  assert.ok(list, 'src/troubleshooting.ts declares HELP_ANCHORS');
  const anchors = [...list[1].matchAll(/'([^']+)'/g)].map((match) => match[1]);
  assert.ok(anchors.length > 0);
  const sections = guide.split(/^## /m).slice(1);
  for (const anchor of anchors) {
    const section = sections.find((text) => slug(text.split('\n')[0]) === anchor);
    assert.ok(section, `docs/troubleshooting.md has no "${anchor}" section`);
    for (const part of ['**What you see:**', '**Why:**', '**What to do:**']) {
      assert.ok(section.includes(part), `"${anchor}" lacks ${part}`);
    }
  }
});
