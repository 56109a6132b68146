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
