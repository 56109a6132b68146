/**
 * SimFileSystem: files, directories and pipes in memory, with the durability of a journaling
 * file system that has no data journal (ext4 data=ordered, xfs):
 * - File data written since the file's last fsync is volatile. A crash keeps any subset of its
 *   512-byte sectors (torn writes), chosen by the seed.
 * - Names (create, rename, unlink, mkdir) go to an ordered metadata journal; fsync of a
 *   directory commits all of it. A crash keeps a prefix of the uncommitted part.
 * crashed() returns the file system as a machine would find it after power loss.
 */
import { assert } from '../../base/assert.js';
import type { Prng } from '../../base/prng.js';
import type { HandleKind } from '../handle-kind.js';

export const sectorSizeBytes = 512;

export interface SimInode {
  readonly number: number;
  readonly kind: HandleKind;
  /** What reads see now. */
  data: Buffer;
  /** What survived the last fsync. */
  durable: Buffer;
  /** Writes since the last fsync, in order: a crash keeps a random subset of their sectors. */
  unsynced: { position: number; bytes: Buffer }[];
  /** Size a crash falls back to (size at the last fsync). */
  xattrs: Map<string, Buffer>;
  linkCount: number;
  /** Pipes: whether a writer has closed (reads then return 0 when empty). */
  writerClosed: boolean;
  mtimeNs: bigint;
}

type NamespaceChange =
  | { type: 'link'; path: string; inode: number }
  | { type: 'unlink'; path: string };

export class SimFileSystem {
  readonly #inodes = new Map<number, SimInode>();
  /** Names as the running system sees them. */
  readonly #names = new Map<string, number>();
  /** Names as they were at the last directory fsync. */
  readonly #durableNames = new Map<string, number>();
  #journal: NamespaceChange[] = [];
  #nextInode = 1;
  #clockNs = 1_700_000_000_000_000_000n;
  frozen = false;

  constructor() {
    const root = this.#newInode('directory');
    this.#names.set('/', root.number);
    this.#durableNames.set('/', root.number);
  }

  lookup(path: string): SimInode | undefined {
    const number = this.#names.get(normalize(path));
    return number === undefined ? undefined : this.#inodes.get(number);
  }

  /** A name of the inode now (a directory has one), or undefined when it has none left. */
  pathOf(inode: SimInode): string | undefined {
    for (const [name, number] of this.#names) if (number === inode.number) return name;
    return undefined;
  }

  /** Creates a name for a new inode; the parent must be a directory. */
  create(path: string, kind: HandleKind): SimInode {
    const name = normalize(path);
    assert(!this.#names.has(name), `create of existing ${name}`);
    const inode = this.#newInode(kind);
    this.#link(name, inode.number);
    return inode;
  }

  parentIsDirectory(path: string): boolean {
    return this.lookup(parentOf(normalize(path)))?.kind === 'directory';
  }

  rename(source: string, target: string): void {
    const from = normalize(source);
    const to = normalize(target);
    const number = this.#names.get(from);
    assert(number !== undefined, `rename of missing ${from}`);
    if (this.#names.has(to)) this.#unlink(to);
    this.#link(to, number);
    this.#unlink(from);
  }

  /** A second name for an existing inode (link(2)); the target must not exist. */
  link(existing: string, target: string): void {
    const number = this.#names.get(normalize(existing));
    assert(number !== undefined, `link of missing ${existing}`);
    assert(!this.#names.has(normalize(target)), `link over existing ${target}`);
    this.#link(normalize(target), number);
  }

  unlink(path: string): void {
    this.#unlink(normalize(path));
  }

  list(path: string): string[] {
    const prefix = normalize(path) === '/' ? '/' : `${normalize(path)}/`;
    return [...this.#names.keys()].filter((name) => name !== '/' && name.startsWith(prefix) && !name.slice(prefix.length).includes('/')).map((name) => name.slice(prefix.length)).sort();
  }

  write(inode: SimInode, position: number, bytes: Buffer): void {
    const end = position + bytes.length;
    if (end > inode.data.length) {
      const grown = Buffer.alloc(end);
      inode.data.copy(grown);
      inode.data = grown;
    }
    bytes.copy(inode.data, position);
    inode.unsynced.push({ position, bytes: Buffer.from(bytes) });
    inode.mtimeNs = this.tick();
  }

  truncate(inode: SimInode, sizeBytes: number): void {
    const resized = Buffer.alloc(sizeBytes);
    inode.data.copy(resized, 0, 0, Math.min(sizeBytes, inode.data.length));
    inode.data = resized;
    // A truncate is modelled as durable at once only through fsync; until then a crash may undo it.
    inode.unsynced.push({ position: sizeBytes, bytes: Buffer.alloc(0) });
    inode.mtimeNs = this.tick();
  }

  syncFile(inode: SimInode): void {
    inode.durable = Buffer.from(inode.data);
    inode.unsynced = [];
  }

  /** fsync of any directory commits the whole ordered metadata journal. */
  syncNames(): void {
    for (const change of this.#journal) applyChange(this.#durableNames, change);
    this.#journal = [];
  }

  tick(): bigint {
    this.#clockNs += 1_000n;
    return this.#clockNs;
  }

  /** The file system after a power loss at this instant. */
  crashed(prng: Prng): SimFileSystem {
    const after = new SimFileSystem();
    after.#names.clear();
    after.#durableNames.clear();
    const names = new Map(this.#durableNames);
    const kept = prng.nextInt(this.#journal.length + 1);
    for (const change of this.#journal.slice(0, kept)) applyChange(names, change);
    for (const [name, number] of names) {
      after.#names.set(name, number);
      after.#durableNames.set(name, number);
    }
    for (const [number, inode] of this.#inodes) {
      const data = survivingData(inode, prng);
      after.#inodes.set(number, { ...inode, data, durable: Buffer.from(data), unsynced: [], xattrs: new Map(inode.xattrs), writerClosed: true });
    }
    after.#nextInode = this.#nextInode;
    after.#clockNs = this.#clockNs;
    return after;
  }

  #newInode(kind: HandleKind): SimInode {
    const inode: SimInode = {
      number: this.#nextInode++,
      kind,
      data: Buffer.alloc(0),
      durable: Buffer.alloc(0),
      unsynced: [],
      xattrs: new Map(),
      linkCount: 0,
      writerClosed: false,
      mtimeNs: this.tick(),
    };
    this.#inodes.set(inode.number, inode);
    return inode;
  }

  #link(name: string, number: number): void {
    const change: NamespaceChange = { type: 'link', path: name, inode: number };
    applyChange(this.#names, change);
    this.#journal.push(change);
    const inode = this.#inodes.get(number);
    if (inode !== undefined) inode.linkCount++;
  }

  #unlink(name: string): void {
    const number = this.#names.get(name);
    assert(number !== undefined, `unlink of missing ${name}`);
    const change: NamespaceChange = { type: 'unlink', path: name };
    applyChange(this.#names, change);
    this.#journal.push(change);
    const inode = this.#inodes.get(number);
    if (inode !== undefined) inode.linkCount--;
  }
}

/** Durable bytes plus, for each unsynced write, a random subset of its sectors. */
function survivingData(inode: SimInode, prng: Prng): Buffer {
  let data = Buffer.from(inode.durable);
  for (const { position, bytes } of inode.unsynced) {
    if (bytes.length === 0) {
      if (prng.chance(0.5)) data = data.subarray(0, Math.min(position, data.length)); // the truncate made it
      continue;
    }
    for (let sector = Math.floor(position / sectorSizeBytes) * sectorSizeBytes; sector < position + bytes.length; sector += sectorSizeBytes) {
      if (!prng.chance(0.5)) continue;
      const start = Math.max(sector, position);
      const end = Math.min(sector + sectorSizeBytes, position + bytes.length);
      if (end > data.length) {
        const grown = Buffer.alloc(end);
        data.copy(grown);
        data = grown;
      }
      bytes.copy(data, start, start - position, end - position);
    }
  }
  return Buffer.from(data);
}

function applyChange(names: Map<string, number>, change: NamespaceChange): void {
  if (change.type === 'link') names.set(change.path, change.inode);
  else names.delete(change.path);
}

export function normalize(path: string): string {
  assert(path.startsWith('/'), `simulated paths are absolute: ${path}`);
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

export function parentOf(path: string): string {
  const index = path.lastIndexOf('/');
  return index <= 0 ? '/' : path.slice(0, index);
}
