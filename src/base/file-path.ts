/**
 * File paths are bytes on Linux: a name may be any bytes but '/' and NUL, valid UTF-8 or not.
 * Io takes a string (UTF-8) or a Buffer (the bytes as they are); displayPath() turns either into
 * text for a message without losing which bytes they were.
 */
import { isUtf8 } from 'node:buffer';

export type FilePath = string | Buffer;

const replacementCharacter = '\ufffd';

/**
 * Text for messages: valid UTF-8 as it is, every byte that is not part of valid UTF-8 as \xNN,
 * a backslash as \\, and control characters (a newline in a name) as \n, \t or \xNN.
 */
export function displayPath(path: FilePath): string {
  if (typeof path === 'string') return escapeControls(path);
  const text = path.toString('utf8');
  if (!text.includes(replacementCharacter)) return escapeControls(text);
  let shown = '';
  let offset = 0;
  while (offset < path.length) {
    const length = utf8SequenceLength(path, offset);
    if (length === 0) {
      shown += `\\x${path[offset]!.toString(16).padStart(2, '0')}`;
      offset += 1;
    } else {
      shown += escapeControls(path.toString('utf8', offset, offset + length));
      offset += length;
    }
  }
  return shown;
}

function escapeControls(text: string): string {
  return text.replace(/[\\\x00-\x1f\x7f]/g, (character) => {
    if (character === '\\') return '\\\\';
    if (character === '\n') return '\\n';
    if (character === '\t') return '\\t';
    return `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** The length of the valid UTF-8 sequence at offset, or 0 when the byte there starts none. */
function utf8SequenceLength(bytes: Buffer, offset: number): number {
  const first = bytes[offset]!;
  if (first < 0x80) return 1;
  let length: number;
  let minimum: number;
  if (first >= 0xc2 && first <= 0xdf) [length, minimum] = [2, 0x80];
  else if (first >= 0xe0 && first <= 0xef) [length, minimum] = [3, 0x800];
  else if (first >= 0xf0 && first <= 0xf4) [length, minimum] = [4, 0x10000];
  else return 0;
  if (offset + length > bytes.length) return 0;
  let codePoint = first & (0xff >> (length + 1));
  for (let index = 1; index < length; index++) {
    const next = bytes[offset + index]!;
    if ((next & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  if (codePoint < minimum || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return 0;
  return length;
}

/** The path as bytes. */
export function pathBytes(path: FilePath): Buffer {
  return typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
}

/** `parent/name` as bytes. */
export function joinPath(parent: FilePath, name: FilePath): Buffer {
  const parentBytes = pathBytes(parent);
  const nameBytes = pathBytes(name);
  if (parentBytes.length === 0) return nameBytes;
  if (parentBytes[parentBytes.length - 1] === 0x2f) return Buffer.concat([parentBytes, nameBytes]);
  return Buffer.concat([parentBytes, slash, nameBytes]);
}

const slash = Buffer.from('/');

/** True when the bytes are valid UTF-8 (so a format that wants text can carry them as text). */
export function isValidUtf8(bytes: Buffer): boolean {
  return isUtf8(bytes);
}

/** True for `path` itself and what is below it ("a/b" is at or below "a"; "ab" is not); every path when `subPath` is null. */
export function isAtOrBelow(path: Buffer, subPath: Buffer | null): boolean {
  if (subPath === null) return true;
  if (!path.subarray(0, subPath.length).equals(subPath)) return false;
  return path.length === subPath.length || path[subPath.length] === 0x2f;
}
