/**
 * holdfast as a library: the public surface (docs/library.md).
 *
 *   import { Holdfast } from 'holdfast';
 *   const repository = new Holdfast({ repository: '/backups/home', password });
 *   const { snapshotId } = await repository.backup(['/home/ann']);
 *
 * Everything here is documented and stays compatible within a major version. The machinery
 * below it (handles, buffer pools, worker pools, the Io interface, codecs) is internal: the CLI
 * reaches it through api/internal.ts, which is not part of the package's exports.
 */
export { Holdfast } from './holdfast.js';
export type { HoldfastBackupOptions, HoldfastBackupResult, HoldfastCheckResult, HoldfastForgetResult, HoldfastOptions, HoldfastRestoreOptions, SnapshotInfo } from './holdfast.js';
/** What a snapshot's backup did: entries, files, bytes, what was new, problems, duration. */
export type { SnapshotSummary } from '../format/repo/snapshot-codec.js';
/** What a restore did: entries restored, refused and not restored, bytes written. */
export type { SnapshotRestoreSummary } from '../engine/restore.js';
/** What check found: files read, problems, damaged snapshots and files. */
export type { CheckSummary, DamagedFile } from '../engine/check.js';
/** What prune did: packs deleted and repacked, index files rewritten. */
export type { PrunePlan, PruneSummary } from '../engine/prune.js';
/** A retention policy for forget(): restic's --keep-* rules. */
export type { ForgetPolicy, KeepDuration } from '../engine/forget-policy.js';
/** "7d", "2w", "1y6m" as a KeepDuration for ForgetPolicy.keepWithin. */
export { parseKeepDuration } from '../engine/forget-policy.js';
/** Every failure: `code` is stable (HOLDFAST_WRONG_PASSWORD, HOLDFAST_NO_REPOSITORY, ...), with the operation and the path. */
export { HoldfastError } from '../errors/holdfast-error.js';
/** Key derivation cost (argon2id) for Holdfast#init; the defaults are what the CLI writes. */
export type { KdfParameters } from '../repo/key-file.js';
export { defaultKdfParameters } from '../repo/key-file.js';
