/**
 * openBeneath: opens a relative path below a held directory descriptor without following any
 * symlink and without leaving the directory (rule D4). One openat2() with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS where the kernel has it (Linux 5.6); otherwise
 * openat() per component with O_NOFOLLOW, and O_DIRECTORY for every component on the way, each
 * relative to the descriptor of the one before. A symlink fails with ELOOP, or ENOTDIR where a
 * directory is wanted (at the end with O_DIRECTORY; on the way without openat2), and so does a
 * non-directory on the way; nothing is resolved from a path string.
 *
 * The descriptors of the components on the way are this function's own: closed before it
 * returns, whatever happens. The caller owns the one returned.
 */
import { constants } from 'node:fs';
import { blocking, resolveFlags, sync, type CallResult } from './libc.js';

const errnoNoSystemCall = 38;
const slash = 0x2f;

/** Set once openat2 answered ENOSYS (an old kernel, or a seccomp filter that hides it). */
let openat2Missing = false;

/** `flags` are open(2) bits; O_NOFOLLOW is added. `relative` has been checked: no "", ".", "..". */
export async function openBeneath(directoryFd: number, relative: Buffer, flags: number, mode: number): Promise<CallResult> {
  const noFollowFlags = flags | constants.O_NOFOLLOW;
  if (!openat2Missing) {
    const call = await blocking.openBeneath(directoryFd, relative, noFollowFlags, mode, resolveFlags.beneath | resolveFlags.noSymlinks | resolveFlags.noMagicLinks);
    if (call.result >= 0 || call.errno !== errnoNoSystemCall) return call;
    openat2Missing = true;
  }
  return openPerComponent(directoryFd, components(relative), noFollowFlags, mode);
}

/** The fallback without openat2, exported for its own test (the kernels here all have openat2). */
export async function openPerComponent(directoryFd: number, names: Buffer[], flags: number, mode: number): Promise<CallResult> {
  let current = directoryFd;
  try {
    for (const [index, name] of names.entries()) {
      const last = index === names.length - 1;
      const call = await blocking.openAt(current, name, last ? flags : constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW, last ? mode : 0);
      if (last || call.result < 0) return call;
      if (current !== directoryFd) sync.close(current);
      current = call.result;
    }
    throw new RangeError('openBeneath() needs at least one component');
  } finally {
    if (current !== directoryFd) sync.close(current);
  }
}

function components(relative: Buffer): Buffer[] {
  const found: Buffer[] = [];
  let start = 0;
  for (let index = 0; index <= relative.length; index++) {
    if (index < relative.length && relative[index] !== slash) continue;
    if (index > start) found.push(relative.subarray(start, index));
    start = index + 1;
  }
  return found;
}
