/**
 * The NBD protocol's numbers, as the NetworkBlockDevice project's doc/proto.md gives them
 * (fixed newstyle negotiation, structured replies, metadata contexts). Everything on the wire is
 * big-endian. Pure values, no I/O.
 */

export const magic = {
  /** "NBDMAGIC", first in the server's greeting. */
  init: 0x4e42444d41474943n,
  /** "IHAVEOPT": the newstyle greeting and every option request. */
  option: 0x49484156454f5054n,
  optionReply: 0x3e889045565a9n,
  request: 0x25609513,
  simpleReply: 0x67446698,
  structuredReply: 0x668e33ef,
} as const;

export const handshakeFlag = { fixedNewstyle: 1 << 0, noZeroes: 1 << 1 } as const;
export const clientFlag = { fixedNewstyle: 1 << 0, noZeroes: 1 << 1 } as const;

export const option = {
  exportName: 1,
  abort: 2,
  list: 3,
  startTls: 5,
  info: 6,
  go: 7,
  structuredReply: 8,
  listMetaContext: 9,
  setMetaContext: 10,
  /** holdfast's own, in the range no registered option uses: take a flush-and-hold snapshot. */
  holdfastSnapshot: 0x48460001,
  /** holdfast's own: drop a snapshot export and its copy-on-write store. */
  holdfastDropSnapshot: 0x48460002,
  /** holdfast's own: the server's counters (connections, queued bytes) as JSON. */
  holdfastStats: 0x48460003,
} as const;

export const reply = {
  ack: 1,
  server: 2,
  info: 3,
  metaContext: 4,
  errorUnsupported: 0x80000001,
  errorPolicy: 0x80000002,
  errorInvalid: 0x80000003,
  errorPlatform: 0x80000004,
  errorTlsRequired: 0x80000005,
  errorUnknown: 0x80000006,
  errorShutdown: 0x80000007,
  errorBlockSizeRequired: 0x80000008,
  errorTooBig: 0x80000009,
} as const;

export const info = { export: 0, name: 1, description: 2, blockSize: 3 } as const;

export const transmissionFlag = {
  hasFlags: 1 << 0,
  readOnly: 1 << 1,
  sendFlush: 1 << 2,
  sendFua: 1 << 3,
  rotational: 1 << 4,
  sendTrim: 1 << 5,
  sendWriteZeroes: 1 << 6,
  sendDf: 1 << 7,
  canMultiConn: 1 << 8,
  sendResize: 1 << 9,
  sendCache: 1 << 10,
  sendFastZero: 1 << 11,
} as const;

export const command = { read: 0, write: 1, disconnect: 2, flush: 3, trim: 4, cache: 5, writeZeroes: 6, blockStatus: 7 } as const;

export const commandFlag = { fua: 1 << 0, noHole: 1 << 1, df: 1 << 2, reqOne: 1 << 3, fastZero: 1 << 4 } as const;

export const replyFlag = { done: 1 << 0 } as const;

export const replyType = { none: 0, offsetData: 1, offsetHole: 2, blockStatus: 5, error: 0x8001, errorOffset: 0x8002 } as const;

/** The errno values NBD carries (Linux numbers, which the protocol adopted). */
export const nbdError = { EPERM: 1, EIO: 5, ENOMEM: 12, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75, ENOTSUP: 95, ESHUTDOWN: 108 } as const;

export const allocationState = { hole: 1 << 0, zero: 1 << 1 } as const;
export const dirtyState = { dirty: 1 << 0 } as const;

export const contextName = { allocation: 'base:allocation', dirtyBitmapPrefix: 'qemu:dirty-bitmap:' } as const;

export const limits = {
  /** The largest option a client may send (a name, queries): anything longer closes the connection. */
  optionBytesMax: 64 * 1024,
  /** Options before transmission: a client that haggles forever is cut off. */
  optionCountMax: 4096,
  /** Meta-context queries in one option. */
  queryCountMax: 128,
  /** The largest READ, WRITE or BLOCK_STATUS payload: the maximum block size advertised. */
  payloadBytesMax: 32 * 1024 * 1024,
  /** Requests of one connection in flight at once; more wait in the socket. */
  requestsInFlightMax: 64,
  /** Export names, as the protocol allows (4096 bytes). */
  exportNameBytesMax: 4096,
} as const;

export const requestHeaderBytes = 28;
export const simpleReplyHeaderBytes = 16;
export const structuredReplyHeaderBytes = 20;
