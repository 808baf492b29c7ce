// Every troubleshooting section the UI links to exists in docs/troubleshooting.md, with what
// the user sees, why, and what to do; and what the guide quotes is what the app shows.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO_DIR = path.resolve(WEB_DIR, '..', '..', '..');
const GUIDE = path.join(REPO_DIR, 'docs', 'troubleshooting.md');

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

test('"Not enough space" quotes what the window and the app really show', async () => {
  const guide = await readFile(GUIDE, 'utf8');
  const section = guide.split(/^## /m).find((text) => text.startsWith('Not enough space\n'));
  assert.ok(section, 'docs/troubleshooting.md has a "Not enough space" section');
  const seen = section.split(/\n\n/).find((paragraph) => paragraph.startsWith('**What you see:**'))?.replace(/\s+/g, ' ');
  assert.ok(seen);
  // The shell's screen for a data folder on a nearly full drive (read, not run).
  const view = await readFile(path.join(REPO_DIR, 'shell', 'src', 'view.rs'), 'utf8');
  const title = view.match(/view\.kind = Some\("low_disk"\);\s*view\.title = "([^"]+)"/)?.[1];
  assert.ok(title, 'shell/src/view.rs sets the low_disk screen\'s title');
  assert.ok(seen.includes(`"${title}"`), `quotes the window's "${title}": ${seen}`);
  // The engine's sentence for a full disk (507 disk_full, a failed job): its words up to what
  // happened, which the guide leaves as "…".
  // The job runner words it for every job type and the app's errors reuse it.
  const disk = await readFile(path.join(REPO_DIR, 'enginekit', 'jobrunner', 'disk.py'), 'utf8');
  const opening = disk.match(/f"([^"{]+)\{happened\}/)?.[1];
  assert.ok(opening, 'enginekit/jobrunner/disk.py words the disk-full sentence as f"…{happened}…"');
  assert.ok(seen.includes(`"${opening}…"`), `quotes the app's "${opening}…": ${seen}`);
});
