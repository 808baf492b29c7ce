// Readable text for a token: undoes GPT-2's byte-to-character mapping and marks whitespace.

/** GPT-2's reversible map from bytes to printable characters, inverted: character → byte. */
const BYTE_OF_CHAR: Map<string, number> = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b += 1) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b += 1) printable.push(b);
  for (let b = 0xae; b <= 0xff; b += 1) printable.push(b);
  const map = new Map<string, number>();
  printable.forEach((b) => map.set(String.fromCharCode(b), b));
  let extra = 0;
  for (let b = 0; b < 256; b += 1) {
    if (!printable.includes(b)) {
      map.set(String.fromCharCode(256 + extra), b);
      extra += 1;
    }
  }
  return map;
})();

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes a byte-level token stands for, or null when it holds other characters. */
function bytesOf(token: string): number[] | null {
  const bytes: number[] = [];
  for (const char of token) {
    const byte = BYTE_OF_CHAR.get(char);
    if (byte === undefined) return null;
    bytes.push(byte);
  }
  return bytes;
}

/**
 * Decodes a byte-level token to its text. A token holding part of a multi-byte character
 * (an emoji split in pieces) is shown as its bytes in hex, e.g. ⟨f0 9f⟩.
 */
export function decodeByteLevel(token: string): string | null {
  const bytes = bytesOf(token);
  if (bytes === null || bytes.length === 0) return null;
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return `⟨${bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(' ')}⟩`;
  }
}

/** Makes spaces, tabs and line breaks inside a token visible. */
export function showWhitespace(text: string): string {
  return text.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r?\n/g, '↵');
}

/** Text to show on a token chip; byte-level tokens are shown as the text they stand for. */
export function tokenLabel(token: string, byteLevel: boolean): string {
  if (byteLevel) {
    const decoded = decodeByteLevel(token);
    if (decoded !== null) return showWhitespace(decoded);
  }
  return showWhitespace(token);
}
