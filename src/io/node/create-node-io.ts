import { IoCore, type IoCoreOptions } from '../io-core.js';
import type { Io } from '../io.js';
import { NodeBackend } from './node-backend.js';

/** The Io of the real machine. */
export function createNodeIo(options: IoCoreOptions = {}): Io {
  return new IoCore(new NodeBackend(), options);
}
