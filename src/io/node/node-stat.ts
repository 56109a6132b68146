/** A FileStat from Node's bigint stats (shared by NodeBackend and the blocking batch calls of read-files-sync.ts). */
import type * as fs from 'node:fs';
import type { FileStat } from '../file-stat.js';
import { kindFromStat } from '../handle-kind.js';
import { splitDevice } from './libc.js';

export function fileStat(stat: fs.BigIntStats, isTerminal: boolean): FileStat {
  const device = splitDevice(stat.rdev);
  return {
    kind: kindFromStat(stat, isTerminal),
    sizeBytes: Number(stat.size),
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    device: stat.dev,
    inode: stat.ino,
    linkCount: Number(stat.nlink),
    blocks: Number(stat.blocks),
    atimeNs: stat.atimeNs,
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
    deviceMajor: device.major,
    deviceMinor: device.minor,
  };
}
