/**
 * The data and hole runs of a range of an image file, from SEEK_DATA / SEEK_HOLE: what
 * `base:allocation` reports and where a structured READ sends hole chunks instead of zeros.
 */
import { allocationState } from '../format/nbd/protocol.js';
import type { StatusExtent } from '../format/nbd/transmission-codec.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';

export interface AllocationRun {
  offset: number;
  lengthBytes: number;
  hole: boolean;
}

/** Runs covering [offset, end) in order; a file system without SEEK_DATA reports all data. */
export async function allocationRuns(io: Io, handle: Handle<'file'>, offset: number, end: number): Promise<AllocationRun[]> {
  const runs: AllocationRun[] = [];
  let at = offset;
  while (at < end) {
    const dataStart = Math.min((await io.seekData(handle, at)) ?? end, end);
    if (dataStart > at) runs.push({ offset: at, lengthBytes: dataStart - at, hole: true });
    if (dataStart >= end) break;
    const dataEnd = Math.min((await io.seekHole(handle, dataStart)) ?? end, end);
    runs.push({ offset: dataStart, lengthBytes: dataEnd - dataStart, hole: false });
    at = dataEnd;
  }
  return runs;
}

export function allocationExtents(runs: readonly AllocationRun[]): StatusExtent[] {
  return runs.map((run) => ({ lengthBytes: run.lengthBytes, flags: run.hole ? allocationState.hole | allocationState.zero : 0 }));
}
