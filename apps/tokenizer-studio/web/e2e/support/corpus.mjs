// Writes a deterministic corpus of varied English-like sentences for the upload step.
import { writeFile } from 'node:fs/promises';

const SUBJECTS = ['The tokenizer', 'A small model', 'Our team', 'The old library', 'Every student', 'The quiet river',
  'My neighbour', 'The research group', 'A curious cat', 'The weather service', 'This program', 'The orchestra'];
const VERBS = ['reads', 'splits', 'counts', 'remembers', 'writes', 'measures', 'learns', 'compresses', 'builds',
  'explores', 'translates', 'collects'];
const OBJECTS = ['long sentences', 'rare words', 'seventeen apples', 'the morning news', 'byte pairs', 'unicode text',
  'quarterly reports', 'mountain maps', 'jazz records', 'python scripts', 'recipes for bread', 'train timetables'];
const TAILS = ['before lunch', 'with great care', 'in 2026', 'under the bridge', 'for the third time', 'without errors',
  'at 3.14 speed', 'near Zürich', 'while it rains', 'on a Tuesday', 'très rapidement', 'every 500 ms'];

/** Small linear congruential generator so the corpus is the same on every run. */
function generator(seed) {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ter', 'vos', 'qua', 'zen', 'dri', 'pel', 'sun', 'or', 'ex', 'bra', 'nim', 'tu'];

/** A made-up word of two to four syllables, so the vocabulary keeps growing. */
function word(pick) {
  const count = 2 + pick(3);
  let text = '';
  for (let i = 0; i < count; i += 1) text += SYLLABLES[pick(SYLLABLES.length)];
  return text;
}

export function makeCorpus(targetBytes = 300_000) {
  const pick = generator(42);
  const lines = [];
  let size = 0;
  let line = 0;
  while (size < targetBytes) {
    line += 1;
    const parts = [SUBJECTS, VERBS, OBJECTS, TAILS].map((words) => words[pick(words.length)]);
    const sentence =
      `${parts.join(' ')}${pick(4) === 0 ? '?' : '.'} ` +
      `Then ${word(pick)} met ${word(pick)} near line ${line}${pick(3) ? '!' : ', calmly.'}`;
    lines.push(sentence);
    size += Buffer.byteLength(sentence) + 1;
  }
  return `${lines.join('\n')}\n`;
}

export async function writeCorpus(file, targetBytes) {
  const text = makeCorpus(targetBytes);
  await writeFile(file, text, 'utf8');
  return { bytes: Buffer.byteLength(text), lines: text.split('\n').length - 1 };
}
