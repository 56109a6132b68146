/**
 * The ArrayBuffer of bytes that are to move to (or from) a worker thread: the bytes' own buffer
 * when they span all of it, else a copy. Moving a view of a larger buffer (Node's shared pool of
 * small Buffers) would move, or copy, everything else in it too.
 */
export function transferableBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
}
