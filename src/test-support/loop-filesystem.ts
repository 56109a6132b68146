/**
 * A real file system of a given type, made for one test: an image file in a fresh temporary
 * directory, formatted with mkfs and mounted through a loop device. Needs root and the mkfs tool
 * (check with requireRoot() and requireTools() first).
 *
 * Dispose always leaves the machine as it was, even after a failed test: it thaws the file system
 * (a test of freeze may have left it frozen, and a frozen file system cannot be unmounted), then
 * unmounts it (`mount -o loop` set autoclear, so the loop device is freed with it), then removes
 * the image. Commands run through execFile with argument arrays, never through a shell.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type LoopFilesystemType = 'ext4' | 'btrfs' | 'xfs';

/**
 * The smallest image each mkfs accepts: ext4 makes no journal below 8 MiB (and a freeze test
 * wants a journal), mkfs.btrfs refuses less than 114 MiB, mkfs.xfs 6.x less than 300 MiB.
 * Images are sparse, so a large one costs little disk.
 */
export const loopFilesystemSizeMiBMin: Readonly<Record<LoopFilesystemType, number>> = { ext4: 8, btrfs: 114, xfs: 300 };
export const loopFilesystemSizeMiBMax = 4096;
/** No mkfs, mount or umount of a small image takes this long; a hung one fails the test. */
const commandDurationMsMax = 60_000;

const mkfsArguments: Readonly<Record<LoopFilesystemType, readonly string[]>> = {
  ext4: ['-q', '-F'],
  btrfs: ['-q', '-f'],
  xfs: ['-q', '-f'],
};

export interface LoopFilesystem {
  readonly mountPoint: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Makes, formats and mounts a file system of `type` on a sparse image of `sizeMiB`. */
export async function mountLoopFilesystem(type: LoopFilesystemType, sizeMiB: number): Promise<LoopFilesystem> {
  const sizeMiBMin = loopFilesystemSizeMiBMin[type];
  if (!Number.isSafeInteger(sizeMiB) || sizeMiB < sizeMiBMin || sizeMiB > loopFilesystemSizeMiBMax) {
    throw new RangeError(`Cannot make a ${type} image of ${sizeMiB} MiB: it must be a whole number from ${sizeMiBMin} to ${loopFilesystemSizeMiBMax}`);
  }
  const directory = await mkdtemp(join(tmpdir(), `holdfast-${type}-`));
  const imagePath = join(directory, `${type}.img`);
  const mountPoint = join(directory, 'mount');
  let mounted = false;
  try {
    const image = await open(imagePath, 'wx');
    try {
      await image.truncate(sizeMiB * 1024 * 1024);
    } finally {
      await image.close();
    }
    await mkdir(mountPoint);
    await run(`mkfs.${type}`, [...mkfsArguments[type], imagePath]);
    await run('mount', ['-t', type, '-o', 'loop', imagePath, mountPoint]);
    mounted = true;
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }

  let disposed: Promise<void> | null = null;
  return {
    mountPoint,
    [Symbol.asyncDispose]: () => {
      disposed ??= unmountAndRemove(directory, mountPoint, mounted);
      return disposed;
    },
  };
}

async function unmountAndRemove(directory: string, mountPoint: string, mounted: boolean): Promise<void> {
  let unmountError: unknown = null;
  if (mounted) {
    // Fails with EINVAL when the file system is not frozen, which is the usual case.
    await run('fsfreeze', ['--unfreeze', mountPoint]).catch(() => undefined);
    try {
      await run('umount', [mountPoint]);
    } catch (error) {
      // Still busy (a handle the test left open): detach it anyway so nothing stays mounted,
      // and report the failure, because a leaked handle is a bug of the test.
      unmountError = error;
      await run('umount', ['--lazy', mountPoint]).catch(() => undefined);
    }
  }
  await rm(directory, { recursive: true, force: true });
  if (unmountError !== null) throw unmountError;
}

async function run(command: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(command, args, { timeout: commandDurationMsMax });
  } catch (error) {
    const stderr = typeof error === 'object' && error !== null && 'stderr' in error ? String(error.stderr).trim() : '';
    throw new Error(`Cannot run ${command} ${args.join(' ')}: ${stderr === '' ? String(error) : stderr}`, { cause: error });
  }
}
