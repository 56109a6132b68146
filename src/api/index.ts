/**
 * The public library surface. No export takes or returns a bare fd number (rule H1).
 */
export { BufferPool, Lease } from '../io/buffer-pool.js';
export { BufferedWriter } from '../io/buffered-writer.js';
export { Handle, expectKind } from '../io/handle.js';
export type { Ownership } from '../io/handle.js';
export type { AccessMode, HandleKind, HandleModes } from '../io/handle-kind.js';
export type { Io, OpenOptions, TransferOptions, XattrSubject } from '../io/io.js';
export type { AllocateMode, FileStat } from '../io/backend.js';
export { Operation } from '../io/operation.js';
export type { IoResult, OperationKind, OperationState } from '../io/operation.js';
export { createNodeIo } from '../io/node/create-node-io.js';
export { HoldfastError, SystemCallError } from '../errors/holdfast-error.js';
export type { FilePath } from '../base/file-path.js';
export { displayPath } from '../base/file-path.js';
export type { NodeKind } from '../io/backend.js';
export { OwnerNames } from '../source/owner-names.js';
export type { EntryHeader, EntryType, AclEntry, Xattr, Extent } from '../format/entry.js';
export type { SourceEntry, EntrySink, ByteInput } from '../streams/entry-pipe.js';
export { BackupReader } from '../streams/backup-reader.js';
export type { BackupReaderOptions } from '../streams/backup-reader.js';
export { BackupWriter } from '../streams/backup-writer.js';
export type { RestoreOptions, RestoreSummary } from '../streams/restorer.js';
export { exportArchive } from '../engine/export-archive.js';
export type { ArchiveFormat, ExportOptions, ExportProgress, ExportSummary } from '../engine/export-archive.js';
export { importArchive } from '../engine/import-archive.js';
export type { ImportFormat, ImportOptions, ImportSummary } from '../engine/import-archive.js';
