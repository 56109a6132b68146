/**
 * Compares two file trees without holdfast's code: runs tree-manifest.py (Python, standard
 * library only) through execFile, without a shell. A test of export and import restores a tree
 * and asserts that compareTrees(source, target) is empty; the script's comment defines the
 * manifest, the path escape and what each field compares.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const manifestScriptPath = fileURLToPath(new URL('./tree-manifest.py', import.meta.url));
/** Reading both trees of any test takes far less; a hung read fails the test. */
const manifestDurationMsMax = 120_000;
/** A manifest of a test tree is a few hundred KiB; this leaves room for large trees. */
const manifestOutputBytesMax = 512 * 1024 * 1024;
const manifestFormat = 'holdfast-tree-manifest-1';

export type TreeEntryType = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/** One entry as tree-manifest.py prints it; the field names are the script's JSON names. */
export interface TreeManifestEntry {
  type: TreeEntryType;
  /** st_mode & 0o7777. */
  mode: number;
  uid: number;
  gid: number;
  /** A decimal string: a JavaScript number would lose the nanoseconds. */
  mtime_ns: string;
  /** Name -> value in hex, every namespace, ACLs as system.posix_acl_access / _default. */
  xattrs: Record<string, string>;
  /** The smallest escaped path of the entries sharing this inode; absent on directories. */
  link_group?: string;
  size?: number;
  allocated_bytes?: number;
  /** [offset, length] data extents from SEEK_DATA / SEEK_HOLE. */
  data_map?: Array<[number, number]>;
  sha256?: string;
  content_sha256?: string;
  /** Symlink target bytes in hex. */
  target?: string;
  rdev_major?: number;
  rdev_minor?: number;
}

export interface TreeManifest {
  format: typeof manifestFormat;
  /** Keyed by the escaped relative path: "\\xHH" for bytes outside 0x20..0x7e and for ':', "\\\\" for '\'. */
  entries: Record<string, TreeManifestEntry>;
}

export interface CompareTreesOptions {
  /**
   * Compare the logical content (its non-zero 4 KiB blocks) instead of the exact data map, for a
   * target file system that allocates differently; a filled hole then shows only through
   * allocated_bytes.
   */
  allowMapDifference?: boolean;
}

/**
 * Every difference between the trees below `source` and `target` (the roots themselves are not
 * compared), one "PATH: FIELD: source-value != target-value" line each; empty when identical.
 * Rejects when the script cannot read a tree.
 */
export async function compareTrees(source: string, target: string, options: CompareTreesOptions = {}): Promise<string[]> {
  const flags = options.allowMapDifference === true ? ['--allow-map-difference'] : [];
  const args = [manifestScriptPath, '--compare', ...flags, source, target];
  try {
    await execFileAsync('python3', args, { maxBuffer: manifestOutputBytesMax, timeout: manifestDurationMsMax });
    return [];
  } catch (error) {
    const failure = error as { code?: unknown; stdout?: unknown; stderr?: unknown };
    if (failure.code === 1 && typeof failure.stdout === 'string') {
      return failure.stdout.split('\n').filter((line) => line !== '');
    }
    throw new Error(`Cannot compare "${source}" with "${target}": ${describeFailure(error)}`, { cause: error });
  }
}

/** The manifest of every entry below `root`, as tree-manifest.py reads it. */
export async function treeManifest(root: string): Promise<TreeManifest> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('python3', [manifestScriptPath, root], { maxBuffer: manifestOutputBytesMax, timeout: manifestDurationMsMax }));
  } catch (error) {
    throw new Error(`Cannot read the manifest of "${root}": ${describeFailure(error)}`, { cause: error });
  }
  const manifest = JSON.parse(stdout) as TreeManifest;
  if (manifest.format !== manifestFormat) throw new Error(`Cannot read the manifest of "${root}": format is not ${manifestFormat}`);
  return manifest;
}

function describeFailure(error: unknown): string {
  const stderr = typeof error === 'object' && error !== null && 'stderr' in error ? String(error.stderr).trim() : '';
  return stderr === '' ? String(error) : stderr;
}
