/**
 * BlockBitmap: one bit per block of a volume (bit i of byte i >> 3 is block i, least significant
 * bit first). Pure, in memory; change-map.ts makes it durable.
 */
import type { StatusExtent } from '../format/nbd/transmission-codec.js';

export class BlockBitmap {
  readonly blockCount: number;
  readonly bytes: Uint8Array;

  constructor(blockCount: number, bytes?: Uint8Array) {
    this.blockCount = blockCount;
    this.bytes = bytes ?? new Uint8Array(Math.ceil(blockCount / 8));
  }

  has(blockIndex: number): boolean {
    return (this.bytes[blockIndex >> 3]! & (1 << (blockIndex & 7))) !== 0;
  }

  set(blockIndex: number): void {
    this.bytes[blockIndex >> 3]! |= 1 << (blockIndex & 7);
  }

  /** True when every block of [first, last] is set. */
  hasAll(first: number, last: number): boolean {
    for (let index = first; index <= last; index++) if (!this.has(index)) return false;
    return true;
  }

  setAll(): void {
    this.bytes.fill(0xff);
  }

  countSet(): number {
    let count = 0;
    for (let index = 0; index < this.blockCount; index++) if (this.has(index)) count++;
    return count;
  }

  copy(): BlockBitmap {
    return new BlockBitmap(this.blockCount, Uint8Array.from(this.bytes));
  }

  /**
   * The runs of [offset, offset + lengthBytes) as status extents: `setFlags` where a block is set,
   * 0 elsewhere. `blockBytes` is the block size, `volumeBytes` clips the last block.
   */
  extents(offset: number, lengthBytes: number, blockBytes: number, volumeBytes: number, setFlags: number): StatusExtent[] {
    const end = Math.min(offset + lengthBytes, volumeBytes);
    const extents: StatusExtent[] = [];
    let at = offset;
    while (at < end) {
      const blockIndex = Math.floor(at / blockBytes);
      const blockEnd = Math.min((blockIndex + 1) * blockBytes, end);
      const flags = this.has(blockIndex) ? setFlags : 0;
      const last = extents.at(-1);
      if (last !== undefined && last.flags === flags && last.lengthBytes + (blockEnd - at) <= 0xfff00000) last.lengthBytes += blockEnd - at;
      else extents.push({ lengthBytes: blockEnd - at, flags });
      at = blockEnd;
    }
    return extents;
  }
}
