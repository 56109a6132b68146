/**
 * SafeTarget: the one way the restorer turns an entry's name into a place under the target
 * directory. It refuses every name that could create, change or follow anything outside it:
 *
 * - a ".." component anywhere (never resolved, always refused), and more than pathBytesMax or
 *   depthMax; leading "/" characters are removed (with a warning), "." and empty components dropped;
 * - a path whose parent is anything but a real directory: a symlink planted earlier in the same
 *   archive, or already present in the target, is never followed (the entry is refused);
 * - the final component is never followed either: an existing non-directory there is unlinked
 *   before anything is created, and files are created with O_CREAT | O_EXCL | O_NOFOLLOW.
 *
 * Parents are checked with lstat() once and remembered; every replacement of a name forgets what
 * was known below it. The guarantee holds against hostile archives; like GNU tar's and
 * node-tar's, it assumes no other process is swapping directories in the target at the same time.
 */
import { displayPath, joinPath } from '../base/file-path.js';
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import type { Io } from '../io/io.js';

export const safeTargetLimits = {
  pathBytesMax: 4096,
  /** Deeper nesting is refused: it cannot exist within PATH_MAX anyway, and it costs memory. */
  depthMax: 2048,
} as const;

export interface PlacedPath {
  /** Relative to the target, normalised: no leading '/', no '.', no empty components. */
  relative: Buffer;
  /** target/relative. */
  absolute: Buffer;
  /** The key under which the restorer remembers this path. */
  key: string;
  /** True when leading '/' characters were removed. */
  hadLeadingSlash: boolean;
}

const slash = 0x2f;
const dotDot = Buffer.from('..');
const dot = Buffer.from('.');

export class SafeTarget {
  readonly #io: Io;
  readonly #target: Buffer;
  /** Keys of relative paths known to be real directories (lstat, or made by this restore). */
  readonly #directories = new Set<string>();

  constructor(io: Io, target: Buffer) {
    this.#io = io;
    this.#target = target;
  }

  get target(): Buffer {
    return this.#target;
  }

  /** The place of an entry's name, or null for the target itself ("./"); throws HOLDFAST_UNSAFE_PATH. */
  place(name: Buffer): PlacedPath | null {
    const shown = displayPath(name);
    if (name.length > safeTargetLimits.pathBytesMax) throw unsafe(shown, `the name is ${name.length} bytes, over the limit of ${safeTargetLimits.pathBytesMax}`, 'HOLDFAST_LIMIT_EXCEEDED');
    const components: Buffer[] = [];
    let start = 0;
    for (let index = 0; index <= name.length; index++) {
      if (index < name.length && name[index] !== slash) continue;
      const component = name.subarray(start, index);
      start = index + 1;
      if (component.length === 0 || component.equals(dot)) continue;
      if (component.equals(dotDot)) throw unsafe(shown, 'the name has a ".." component');
      components.push(component);
    }
    if (components.length === 0) return null;
    if (components.length > safeTargetLimits.depthMax) throw unsafe(shown, `the name is ${components.length} levels deep, over the limit of ${safeTargetLimits.depthMax}`, 'HOLDFAST_LIMIT_EXCEEDED');
    const relative = Buffer.concat(components.flatMap((component, index) => (index === 0 ? [component] : [Buffer.from('/'), component])));
    return { relative, absolute: joinPath(this.#target, relative), key: relative.toString('latin1'), hadLeadingSlash: name[0] === slash };
  }

  /** Makes sure every parent of `placed` is a real directory, creating missing ones (mode 0700). */
  async ensureParents(placed: PlacedPath): Promise<void> {
    let end = placed.relative.indexOf(slash);
    while (end !== -1) {
      const prefix = placed.relative.subarray(0, end);
      const key = prefix.toString('latin1');
      if (!this.#directories.has(key)) {
        const absolute = joinPath(this.#target, prefix);
        const existing = await this.#lstatOrNull(absolute);
        if (existing === null) await this.#io.makeDirectory(absolute, { mode: 0o700 });
        else if (existing !== 'directory') throw unsafe(displayPath(placed.relative), `its parent "${displayPath(prefix)}" is a ${existing}, not a directory, and is never followed`);
        this.#directories.add(key);
      }
      end = placed.relative.indexOf(slash, end + 1);
    }
  }

  /**
   * Clears the final component for a new entry: an existing directory is kept when a directory
   * is wanted (returns true), removed when empty otherwise; anything else is unlinked.
   */
  async clearFinal(placed: PlacedPath, wantDirectory: boolean): Promise<boolean> {
    const existing = await this.#lstatOrNull(placed.absolute);
    if (existing === null) return false;
    if (existing === 'directory') {
      if (wantDirectory) {
        this.#directories.add(placed.key);
        return true;
      }
      await this.#io.removeDirectory(placed.absolute);
    } else {
      await this.#io.unlink(placed.absolute);
    }
    this.forget(placed.key);
    return false;
  }

  /**
   * True when placed and all its parents are still real directories: a directory restored early
   * may since have been replaced, and its deferred mode and times must not follow a symlink.
   */
  async isStillDirectory(placed: PlacedPath): Promise<boolean> {
    let end = 0;
    while (end !== -1) {
      end = placed.relative.indexOf(slash, end + 1);
      const prefix = end === -1 ? placed.relative : placed.relative.subarray(0, end);
      const key = prefix.toString('latin1');
      if (this.#directories.has(key)) continue;
      if ((await this.#lstatOrNull(joinPath(this.#target, prefix))) !== 'directory') return false;
      this.#directories.add(key);
    }
    return true;
  }

  rememberDirectory(placed: PlacedPath): void {
    this.#directories.add(placed.key);
  }

  /** Forgets what was known of key and everything below it. */
  forget(key: string): void {
    this.#directories.delete(key);
    const prefix = `${key}/`;
    for (const known of this.#directories) if (known.startsWith(prefix)) this.#directories.delete(known);
  }

  async #lstatOrNull(path: Buffer): Promise<string | null> {
    try {
      return (await this.#io.lstat(path)).kind;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return null;
      throw error;
    }
  }
}

function unsafe(shown: string, reason: string, code: 'HOLDFAST_UNSAFE_PATH' | 'HOLDFAST_LIMIT_EXCEEDED' = 'HOLDFAST_UNSAFE_PATH'): Error {
  return holdfastError(code, { operation: 'import', path: shown }, reason);
}
