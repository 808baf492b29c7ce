// The words the UI builds from the engine's data, tested on the UI's own TypeScript: each
// module is compiled alone (typescript's transpileModule, types dropped) and imported.
//   - the troubleshooting guide's paragraphs as plain text: no Markdown mark left, a literal `*`
//     kept;
//   - how long a job took, from timestamps in whole seconds;
//   - what an ended job was doing when it ended.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GUIDE = path.resolve(WEB_DIR, '..', '..', '..', 'docs', 'troubleshooting.md');

/** The module at `relative` (under src/), compiled, with `replace` applied to its source first. */
async function importTs(relative, replace = []) {
  let source = await readFile(path.join(WEB_DIR, 'src', relative), 'utf8');
  for (const [from, to] of replace) {
    assert.ok(source.includes(from), `${relative} no longer has ${from}`);
    source = source.replace(from, to);
  }
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    fileName: relative,
  });
  return import(`data:text/javascript;base64,${Buffer.from(outputText).toString('base64')}`);
}

/** src/troubleshooting.ts with the guide that Vite inlines (`?raw`) read from docs/. */
async function troubleshooting() {
  const guide = await readFile(GUIDE, 'utf8');
  return importTs('troubleshooting.ts', [
    ["import guide from '../../../../docs/troubleshooting.md?raw';", `const guide = ${JSON.stringify(guide)};`],
  ]);
}

test('help text drops strong and emphasis marks, keeps a literal asterisk', async () => {
  const { plain } = await troubleshooting();
  assert.equal(plain('**What to do:** press *Retry*.'), 'What to do: press Retry.');
  assert.equal(plain('choose the text column in *Datasets*, then (*About this computer*)'), 'choose the text column in Datasets, then (About this computer)');
  assert.equal(plain('a job marked *failed* with "*Retry*"'), 'a job marked failed with "Retry"');
  assert.equal(plain('*a* and *b c*'), 'a and b c');
  assert.equal(plain('see [Not enough space](#not-enough-space) and *[Retry](#x)*'), 'see Not enough space and Retry');
  // Not emphasis: a lone or spaced-out asterisk, one inside a word, an escaped one, and
  // anything in a code span.
  assert.equal(plain('a * b * c'), 'a * b * c');
  assert.equal(plain('2*3*4 files'), '2*3*4 files');
  assert.equal(plain('upload *.txt or *.csv'), 'upload *.txt or *.csv');
  assert.equal(plain('a \\*literal\\* star'), 'a *literal* star');
  assert.equal(plain('delete `*.part` and `**/tmp` files'), 'delete *.part and **/tmp files');
  assert.equal(plain('`crash-<time>-shell.txt` in *logs*'), 'crash-<time>-shell.txt in logs');
});

test('no section the UI shows keeps a Markdown emphasis mark', async () => {
  const { HELP_ANCHORS, helpSection } = await troubleshooting();
  for (const anchor of HELP_ANCHORS) {
    const section = helpSection(anchor);
    assert.ok(section, anchor);
    for (const text of [section.title, ...section.paragraphs]) {
      assert.doesNotMatch(text, /\*/, `"${anchor}" shows an asterisk: ${text}`);
      assert.doesNotMatch(text, /`/, `"${anchor}" shows a backtick: ${text}`);
    }
  }
});

test('a job\'s time is in whole seconds: under a second, seconds, minutes, hours', async () => {
  const { formatElapsed } = await importTs('format.ts');
  assert.equal(formatElapsed(0), 'under a second');
  assert.equal(formatElapsed(0.4), 'under a second');
  assert.equal(formatElapsed(1), '1 s');
  assert.equal(formatElapsed(1.9), '1 s');
  assert.equal(formatElapsed(59), '59 s');
  assert.equal(formatElapsed(60), '1 min 0 s');
  assert.equal(formatElapsed(125), '2 min 5 s');
  assert.equal(formatElapsed(3599.5), '59 min 59 s');
  assert.equal(formatElapsed(3600 + 61), '1 h 1 min');
  assert.equal(formatElapsed(-2), 'under a second', 'a clock step back is not a negative time');
  assert.equal(formatElapsed(null), '—');
  assert.equal(formatElapsed(Number.NaN), '—');
  for (const seconds of [0, 0.2, 0.999, 1, 42, 600]) {
    assert.doesNotMatch(formatElapsed(seconds), /ms|\./, `no precision the timestamps do not have: ${seconds}`);
  }
});

test('an ended job says what it was doing when it ended; a running one what it is doing', async () => {
  const { endedEarly, phaseText } = await importTs('screens/jobs/phase.ts');
  assert.equal(phaseText({ status: 'running', phase: 'training' }), 'Training the tokenizer');
  assert.equal(phaseText({ status: 'queued', phase: 'queued' }), 'Waiting to start');
  assert.equal(phaseText({ status: 'succeeded', phase: 'done' }), 'Done');
  assert.equal(phaseText({ status: 'failed', phase: 'training' }), 'Failed while training the tokenizer');
  assert.equal(phaseText({ status: 'failed', phase: 'reading' }), 'Failed while reading the datasets');
  assert.equal(phaseText({ status: 'cancelled', phase: 'saving' }), 'Cancelled while saving the tokenizer');
  assert.equal(phaseText({ status: 'interrupted', phase: 'training' }), 'Interrupted while training the tokenizer');
  assert.equal(phaseText({ status: 'cancelled', phase: 'queued' }), 'Cancelled before it started');
  assert.deepEqual(
    ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'].filter((status) => endedEarly({ status })),
    ['failed', 'cancelled', 'interrupted'],
  );
});
