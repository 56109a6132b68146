/**
 * What a handle refers to, taken from fstat() (and isatty) of the open descriptor, never from
 * the caller's word, and the modes the open file description really has (F_GETFL, lseek).
 */
export type HandleKind =
  | 'file'
  | 'directory'
  | 'fifo'
  | 'socket'
  | 'terminal'
  | 'block-device'
  | 'char-device'
  | 'symlink';

export type AccessMode = 'read' | 'write' | 'read-write';

export interface HandleModes {
  access: AccessMode;
  /** O_NONBLOCK on the open file description when the handle was opened. */
  nonBlocking: boolean;
  append: boolean;
  /** lseek(fd, 0, SEEK_CUR) succeeded: positional reads and writes are meaningful. */
  seekable: boolean;
}

export interface StatFacts {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
  isSymbolicLink(): boolean;
}

export function kindFromStat(stat: StatFacts, isTerminal: boolean): HandleKind {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isBlockDevice()) return 'block-device';
  if (stat.isCharacterDevice()) return isTerminal ? 'terminal' : 'char-device';
  if (stat.isSymbolicLink()) return 'symlink';
  throw new RangeError('fstat() returned a file type holdfast does not know');
}

export function isStreamKind(kind: HandleKind): boolean {
  return kind === 'fifo' || kind === 'socket' || kind === 'terminal' || kind === 'char-device';
}

export function canRead(modes: HandleModes): boolean {
  return modes.access !== 'write';
}

export function canWrite(modes: HandleModes): boolean {
  return modes.access !== 'read';
}
