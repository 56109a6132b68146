/** What stat() tells of a file, as Io gives it (its own file, so that handle.ts and backend.ts can both use it). */
import type { HandleKind } from './handle-kind.js';

export interface FileStat {
  kind: HandleKind;
  sizeBytes: number;
  /** Permission and special bits (setuid, setgid, sticky): st_mode & 0o7777. */
  mode: number;
  uid: number;
  gid: number;
  device: bigint;
  inode: bigint;
  linkCount: number;
  /** 512-byte blocks allocated: what holes save. */
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The device a character or block special file stands for (st_rdev); 0 otherwise. */
  deviceMajor: number;
  deviceMinor: number;
}
