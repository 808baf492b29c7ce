// The troubleshooting guide (docs/troubleshooting.md), built into the UI so it reads offline:
// the section for a problem, as plain paragraphs (Markdown's marks dropped, link text kept).
import guide from '../../../../docs/troubleshooting.md?raw';

/** The guide's sections the UI links to; a test checks each exists in the guide. */
export const HELP_ANCHORS = ['training-failed', 'not-enough-space'] as const;
export type HelpAnchor = (typeof HELP_ANCHORS)[number];

export interface HelpSection {
  title: string;
  paragraphs: string[];
}

/** The anchor GitHub gives a heading: lower case, spaces to dashes, punctuation dropped. */
export function slug(title: string): string {
  return title
    .trim()
    .toLowerCase()
    .replace(/ /g, '-')
    .replace(/[^\p{L}\p{N}_-]/gu, '');
}

// Emphasis as Markdown reads it: `**strong**` or `*emphasis*`, the marks touching the words
// they wrap and not inside a word. A `*` that is not such a mark (`a * b`, `*.txt`, `\*`)
// stays, and so does everything inside a code span.
// (The character before a mark is captured, not looked behind at: older WebKit lacks lookbehind.)
const STRONG = /(^|[^\\\w*])\*\*(?=[^\s*])(.*?[^\s\\])\*\*(?![\w*])/g;
const EMPHASIS = /(^|[^\\\w*])\*(?=[^\s*])([^*]*?[^\s*\\])\*(?![\w*])/g;

function withoutEmphasis(text: string): string {
  return text.replace(STRONG, '$1$2').replace(EMPHASIS, '$1$2').replace(/\\([\\`*_])/g, '$1');
}

/** A paragraph of the guide as plain text: links become their text, emphasis and code marks
 * are dropped; a code span is kept as written. */
export function plain(text: string): string {
  return text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .split(/(`[^`]*`)/)
    .map((part, index) => (index % 2 === 1 ? part.slice(1, -1) : withoutEmphasis(part)))
    .join('');
}

export function helpSection(anchor: HelpAnchor, source: string = guide): HelpSection | null {
  const lines = source.split('\n');
  const start = lines.findIndex((line) => line.startsWith('## ') && slug(line.slice(3)) === anchor);
  if (start < 0) return null;
  const paragraphs: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length) paragraphs.push(plain(current.join(' ')));
    current = [];
  };
  for (const raw of lines.slice(start + 1)) {
    if (raw.startsWith('## ')) break;
    const line = raw.trim();
    const item = line.startsWith('- ') ? line.slice(2) : null;
    if (!line || item !== null) flush();
    const text = item ?? line;
    if (text) current.push(text);
  }
  flush();
  return { title: plain(lines[start].slice(3).trim()), paragraphs };
}

/** Which section explains a failed job or an error sentence. */
export function helpAnchorFor(message: string): HelpAnchor {
  return /disk (space|is full)|not enough (disk )?space/i.test(message) ? 'not-enough-space' : 'training-failed';
}
