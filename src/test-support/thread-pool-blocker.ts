/**
 * Occupies every thread of libuv's pool with an open() of a FIFO that has no writer, so that
 * later fs calls wait in libuv's queue. release() opens each FIFO read-write, which never blocks
 * and counts as a writer whether or not the pool thread has reached its open() yet (a
 * non-blocking write-only open fails with ENXIO in that window), so the blocked opens finish.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

export const threadPoolSize = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);

export interface ThreadPoolBlocker {
  release(): Promise<void>;
}

export function blockThreadPool(directory: string): ThreadPoolBlocker {
  const paths = Array.from({ length: threadPoolSize }, (_, index) => join(directory, `blocker-${index}`));
  execFileSync('mkfifo', paths);
  const opened = paths.map(
    (path) =>
      new Promise<number>((resolve, reject) => {
        fs.open(path, 'r', (error, fd) => (error === null ? resolve(fd) : reject(error)));
      }),
  );
  let released: Promise<void> | null = null;
  return {
    release: () => {
      released ??= (async () => {
        const writers = paths.map((path) => fs.openSync(path, fs.constants.O_RDWR));
        for (const fd of await Promise.all(opened)) fs.closeSync(fd);
        for (const fd of writers) fs.closeSync(fd);
      })();
      return released;
    },
  };
}
