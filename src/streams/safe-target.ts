/**
 * SafeTarget: the one way the restorer turns an entry's name into a place under the target
 * directory. It refuses every name that could create, change or follow anything outside it:
 *
 * - a ".." component anywhere (never resolved, always refused), and more than pathBytesMax or
 *   depthMax; leading "/" characters are removed (with a warning), "." and empty components dropped;
 * - a path whose parent is anything but a real directory: a symlink planted earlier in the same
 *   archive, already present in the target, or swapped in by another process at any moment, is
 *   never followed (the entry is refused);
 * - the final component is never followed either: an existing non-directory there is unlinked
 *   before anything is created, and files are created with O_CREAT | O_EXCL | O_NOFOLLOW.
 *
 * Rule D4: nothing is resolved from a path string. The target is opened once, and every
 * directory below it is reached through directory handles held open from the target down
 * (Io.openDirectoryAt: openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or O_NOFOLLOW per
 * component); entries are created, linked, removed and given their metadata with *at calls on
 * those handles or through their own open handle. So another user who can write in the target
 * and swaps a directory for a symlink while the restore runs gets, at worst, entries refused or
 * restored into the directory under its new name, inside the target; never a write outside.
 * (A directory moved out of the target by that user takes the entries written through its
 * handle with it, as it would take those written before.)
 *
 * The handles are a cache: at most directoryHandlesMax besides the target's own, the least
 * recently used closed first, one reopened from its nearest held ancestor when needed again, so
 * a tree of many siblings costs one openat per entry. A handle in use (pinned by withParent or
 * withDirectory) is never closed under its user. close() closes them all; call it at the end.
 */
import { assert } from '../base/assert.js';
import { displayPath } from '../base/file-path.js';
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';

export const safeTargetLimits = {
  pathBytesMax: 4096,
  /** Deeper nesting is refused: it cannot exist within PATH_MAX anyway, and it costs memory. */
  depthMax: 2048,
  /** Directory handles held open besides the target's own: enough for the directories in use at once. */
  directoryHandlesMax: 64,
} as const;

export interface PlacedPath {
  /** Relative to the target, normalised: no leading '/', no '.', no empty components. */
  relative: Buffer;
  /** The parent's relative path: empty for a name directly in the target. */
  parent: Buffer;
  /** The last component. */
  name: Buffer;
  /** The key under which the restorer remembers this path. */
  key: string;
  /** True when leading '/' characters were removed. */
  hadLeadingSlash: boolean;
}

interface HeldDirectory {
  handle: Handle<'directory'>;
  /** Users running now: a pinned handle is not closed until they are done. */
  pins: number;
  /** No longer in the cache (evicted or forgotten): closed when the last pin goes. */
  dropped: boolean;
}

const slash = 0x2f;
const dotDot = Buffer.from('..');
const dot = Buffer.from('.');

export interface SafeTargetOptions {
  /**
   * The mode missing parents are made with, less the umask: 0o700 (the default) keeps them the
   * owner's; 0o777 makes them as tar does (0755 under umask 022).
   */
  implicitDirectoryMode?: number;
}

export class SafeTarget {
  readonly #io: Io;
  readonly #target: Buffer;
  readonly #implicitDirectoryMode: number;
  #root: Promise<HeldDirectory> | null = null;
  /** Held directories by relative path key; the Map's order is the order of last use. */
  readonly #held = new Map<string, HeldDirectory>();
  #closed = false;

  constructor(io: Io, target: Buffer, options: SafeTargetOptions = {}) {
    this.#io = io;
    this.#target = target;
    this.#implicitDirectoryMode = options.implicitDirectoryMode ?? 0o700;
  }

  get target(): Buffer {
    return this.#target;
  }

  /** Directory handles open now, the target's own included (for tests of the limit). */
  get handlesOpen(): number {
    return this.#held.size + (this.#root === null ? 0 : 1);
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
    const lastSlash = relative.lastIndexOf(slash);
    return {
      relative,
      parent: lastSlash === -1 ? Buffer.alloc(0) : relative.subarray(0, lastSlash),
      name: lastSlash === -1 ? relative : relative.subarray(lastSlash + 1),
      key: relative.toString('latin1'),
      hadLeadingSlash: name[0] === slash,
    };
  }

  /**
   * Runs `body` with a held handle of placed's parent directory, which stays open until body
   * settles. With `create`, missing parents are made (implicitDirectoryMode). A parent that is not a real
   * directory refuses the entry (HOLDFAST_UNSAFE_PATH): it is never followed.
   */
  withParent<T>(placed: PlacedPath, create: boolean, body: (directory: Handle<'directory'>) => Promise<T>): Promise<T> {
    return this.#withHeld(placed.parent, create, displayPath(placed.relative), body);
  }

  /**
   * Runs `body` with a held handle of placed itself, a directory, and resolves true; resolves
   * false without running it when placed is no longer a real directory below the target (it was
   * removed or replaced since: its deferred mode and times must not follow a symlink).
   */
  async withDirectory(placed: PlacedPath, body: (directory: Handle<'directory'>) => Promise<void>): Promise<boolean> {
    let held: HeldDirectory;
    try {
      held = await this.#directory(placed.relative, false, displayPath(placed.relative));
    } catch (error) {
      if (isErrorCode(error, 'HOLDFAST_UNSAFE_PATH') || isErrorCode(error, 'ENOENT')) return false;
      throw error;
    }
    await this.#use(held, body);
    return true;
  }

  /**
   * Clears the final component in its (held) parent for a new entry: an existing directory is
   * kept when a directory is wanted (returns true), removed when empty otherwise; anything else
   * is unlinked.
   */
  async clearFinal(directory: Handle<'directory'>, placed: PlacedPath, wantDirectory: boolean): Promise<boolean> {
    const existing = await this.#kindAt(directory, placed.name);
    if (existing === null) return false;
    if (existing === 'directory') {
      if (wantDirectory) return true;
      await this.#io.removeDirectoryAt(directory, placed.name);
    } else {
      await this.#io.unlinkAt(directory, placed.name);
    }
    await this.forget(placed.key);
    return false;
  }

  /** Drops the handles of key and of everything below it: that name now stands for something new. */
  async forget(key: string): Promise<void> {
    const prefix = `${key}/`;
    const dropped: HeldDirectory[] = [];
    for (const [known, held] of this.#held) {
      if (known !== key && !known.startsWith(prefix)) continue;
      this.#held.delete(known);
      dropped.push(held);
    }
    for (const held of dropped) await this.#drop(held);
  }

  /** Closes every handle held; the SafeTarget is not used after. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const directory of held) await this.#drop(directory);
    const root = this.#root;
    this.#root = null;
    if (root !== null) await (await root.catch(() => null))?.handle.close();
  }

  async #withHeld<T>(relative: Buffer, create: boolean, shown: string, body: (directory: Handle<'directory'>) => Promise<T>): Promise<T> {
    return this.#use(await this.#directory(relative, create, shown), body);
  }

  async #use<T>(held: HeldDirectory, body: (directory: Handle<'directory'>) => Promise<T>): Promise<T> {
    held.pins++;
    try {
      return await body(held.handle);
    } finally {
      await this.#unpin(held);
      await this.#trim();
    }
  }

  async #unpin(held: HeldDirectory): Promise<void> {
    held.pins--;
    if (held.dropped && held.pins === 0) await held.handle.close();
  }

  /** The held directory at relative (the target for an empty one), opened from its nearest held ancestor. */
  async #directory(relative: Buffer, create: boolean, shown: string): Promise<HeldDirectory> {
    assert(!this.#closed, 'SafeTarget used after close()');
    this.#root ??= this.#io.openDirectory(this.#target).then((handle) => ({ handle, pins: 0, dropped: false }));
    const root = await this.#root;
    if (relative.length === 0) return root;
    const key = relative.toString('latin1');
    const known = this.#held.get(key);
    if (known !== undefined) {
      this.#held.delete(key);
      this.#held.set(key, known);
      return known;
    }
    let ancestor = root;
    let cut = relative.lastIndexOf(slash);
    for (; cut !== -1; cut = cut === 0 ? -1 : relative.lastIndexOf(slash, cut - 1)) {
      const found = this.#held.get(relative.subarray(0, cut).toString('latin1'));
      if (found !== undefined) {
        ancestor = found;
        break;
      }
    }
    const rest = relative.subarray(cut + 1);
    ancestor.pins++;
    try {
      // The whole rest in one call (openat2) when it is all there; step by step to create it, or
      // to name the component that is not a real directory.
      if (rest.includes(slash)) {
        try {
          return this.#hold(key, await this.#io.openDirectoryAt(ancestor.handle, rest));
        } catch {
          // Found out below.
        }
      }
      return await this.#openStepwise(ancestor, relative, cut + 1, create, shown);
    } finally {
      await this.#unpin(ancestor);
    }
  }

  /** Opens (and with `create` makes) each component of relative from `start` on, holding each. */
  async #openStepwise(ancestor: HeldDirectory, relative: Buffer, start: number, create: boolean, shown: string): Promise<HeldDirectory> {
    let current = ancestor;
    while (start < relative.length) {
      let end = relative.indexOf(slash, start);
      if (end === -1) end = relative.length;
      const prefix = relative.subarray(0, end);
      const parent = current;
      parent.pins++;
      try {
        current = this.#hold(prefix.toString('latin1'), await this.#openChild(parent.handle, relative.subarray(start, end), prefix, create, shown));
      } finally {
        await this.#unpin(parent);
      }
      start = end + 1;
    }
    return current;
  }

  async #openChild(directory: Handle<'directory'>, name: Buffer, prefix: Buffer, create: boolean, shown: string): Promise<Handle<'directory'>> {
    try {
      return await this.#io.openDirectoryAt(directory, name);
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT') || !create) throw await this.#refusal(error, directory, name, prefix, shown);
    }
    try {
      await this.#io.makeDirectoryAt(directory, name, { mode: this.#implicitDirectoryMode });
    } catch (error) {
      if (!isErrorCode(error, 'EEXIST')) throw error;
    }
    try {
      return await this.#io.openDirectoryAt(directory, name);
    } catch (error) {
      throw await this.#refusal(error, directory, name, prefix, shown);
    }
  }

  /** ELOOP or ENOTDIR: the parent is a symlink or another non-directory, named as such. */
  async #refusal(error: unknown, directory: Handle<'directory'>, name: Buffer, prefix: Buffer, shown: string): Promise<unknown> {
    if (!isErrorCode(error, 'ELOOP') && !isErrorCode(error, 'ENOTDIR')) return error;
    const kind = await this.#kindAt(directory, name).catch(() => null);
    return unsafe(shown, `its parent "${displayPath(prefix)}" is a ${kind ?? 'name that is not a directory'}, not a directory, and is never followed`);
  }

  #hold(key: string, handle: Handle<'directory'>): HeldDirectory {
    assert(!this.#held.has(key), `"${key}" is held already`);
    const held: HeldDirectory = { handle, pins: 0, dropped: false };
    this.#held.set(key, held);
    return held;
  }

  /** Closes the least recently used handles not in use until at most directoryHandlesMax are held. */
  async #trim(): Promise<void> {
    if (this.#held.size <= safeTargetLimits.directoryHandlesMax) return;
    for (const [key, held] of this.#held) {
      if (this.#held.size <= safeTargetLimits.directoryHandlesMax) break;
      if (held.pins > 0) continue;
      this.#held.delete(key);
      await this.#drop(held);
    }
  }

  async #drop(held: HeldDirectory): Promise<void> {
    held.dropped = true;
    if (held.pins === 0) await held.handle.close();
  }

  async #kindAt(directory: Handle<'directory'>, name: Buffer): Promise<string | null> {
    try {
      return (await this.#io.lstatAt(directory, name)).kind;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return null;
      throw error;
    }
  }
}

function unsafe(shown: string, reason: string, code: 'HOLDFAST_UNSAFE_PATH' | 'HOLDFAST_LIMIT_EXCEEDED' = 'HOLDFAST_UNSAFE_PATH'): Error {
  return holdfastError(code, { operation: 'import', path: shown }, reason);
}
