/**
 * makeDirectories(): `mkdir -p` that says what really went wrong. Node's recursive mkdirSync
 * reports ENOENT for a directory it cannot make on a read-only file system (EROFS) or in a
 * directory it may not write (EACCES), which sends the user looking for a missing parent. Here
 * each missing directory is made in turn, from the highest, and a failure keeps its errno and
 * names the directory that could not be made.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errnoNumber, fromNodeError, SystemCallError } from '../errors/holdfast-error.js';

/** Makes `path` and its missing parents; a coded error (EROFS, EACCES, ENOTDIR...) names the one that failed. */
export function makeDirectories(path: string, operation: string): void {
  makeDirectory(resolve(path), operation);
}

function makeDirectory(path: string, operation: string): void {
  try {
    mkdirSync(path);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return assertDirectory(path, operation);
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw fromNodeError(error, 'mkdir', { operation, path });
    makeDirectory(parent, operation);
  }
  try {
    mkdirSync(path);
  } catch (error) {
    // Made by another process since: fine, if it is a directory.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return assertDirectory(path, operation);
    throw fromNodeError(error, 'mkdir', { operation, path });
  }
}

function assertDirectory(path: string, operation: string): void {
  if (!statSync(path).isDirectory()) throw new SystemCallError(errnoNumber('ENOTDIR'), 'mkdir', { operation, path });
}
