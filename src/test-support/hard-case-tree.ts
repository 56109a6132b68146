/**
 * Builds the tree of hard cases (sparse files, xattrs, ACLs, hard links, odd symlinks, devices,
 * setuid and unmapped owners, times before 1970 and after 2038, non-UTF-8 and 3900-byte paths)
 * by running hard-case-tree.py, which shares no code with holdfast. The script's comment lists
 * every path. Needs root, python3 and setfacl, on a file system with user, trusted and security
 * xattrs and ACLs: a loop-mounted ext4 from mountLoopFilesystem('ext4', 64) has room for the tree
 * and a copy of it (each about 5 MiB of data).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const builderScriptPath = fileURLToPath(new URL('./hard-case-tree.py', import.meta.url));
/** Building takes well under a second; a hung build fails the test. */
const buildDurationMsMax = 60_000;

export interface HardCaseTreeOptions {
  /** Adds special/socket, a unix socket. Leave it out for tar, which cannot carry sockets. */
  withSocket?: boolean;
}

export interface HardCaseTreeSummary {
  /** The entries made below the root. */
  entryCount: number;
  /** Bytes of file content written, holes not counted. */
  dataBytes: number;
  /** Cases the kernel refused (a security.* xattr under some LSMs), each with the reason. */
  skipped: string[];
}

/** Builds the tree in `root`, which must be empty or missing. */
export async function buildHardCaseTree(root: string, options: HardCaseTreeOptions = {}): Promise<HardCaseTreeSummary> {
  const args = [builderScriptPath, ...(options.withSocket === true ? ['--with-socket'] : []), root];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('python3', args, { timeout: buildDurationMsMax }));
  } catch (error) {
    const stderr = typeof error === 'object' && error !== null && 'stderr' in error ? String(error.stderr).trim() : '';
    throw new Error(`Cannot build the hard-case tree in "${root}": ${stderr === '' ? String(error) : stderr}`, { cause: error });
  }
  const summary = JSON.parse(stdout) as { entries: number; data_bytes: number; skipped: string[] };
  return { entryCount: summary.entries, dataBytes: summary.data_bytes, skipped: summary.skipped };
}
