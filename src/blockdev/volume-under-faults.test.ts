/**
 * Rules W2 and S3 for the live volume: nothing a crash can do makes the change map miss a change.
 * Per seed, a Volume with its ChangeMap runs on the simulated file system: waves of concurrent
 * WRITE, WRITE_ZEROES (with or without NO_HOLE) and TRIM requests, some with FUA, under late and
 * reordered completions, short reads and writes, EIO and ENOSPC, until the power goes at a random
 * simulated step (unsynced data of the image and the map lost or torn, sector by sector, as the
 * seed says). A new process then opens the map from what the disk kept. It must resume the same
 * map (not reset it, which would hide everything), as an unclean stop, and:
 *   - every request whose promise resolved before the crash has all its blocks marked;
 *   - every block whose bytes in the crashed image differ from the initial image is marked,
 *     whether its request was acknowledged, failed, or still in flight (the order mark → change
 *     makes the map its own journal).
 * 40 seeds (HOLDFAST_SIM_SEEDS for more); a failure prints its seed and HOLDFAST_SIM_SEED=<seed>
 * replays it. The crashed process never closes its handles: HOLDFAST_HANDLE_LEAKED warnings when
 * they are collected are expected. The simulator keeps no holes (TRIM zeroes), which is enough
 * here: what matters is which bytes change, not how they are stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from '../io/buffer-pool.js';
import type { FaultRates } from '../io/sim/sim-backend.js';
import { forEachSeed, type Simulation } from '../io/sim/simulation.js';
import { BlockFile } from './block-file.js';
import { ChangeMap } from './change-map.js';
import { Volume } from './volume.js';

const faults: Partial<FaultRates> = { late: 0.15, shortRead: 0.05, shortWrite: 0.15, ioError: 0.04, noSpace: 0.02 };
const granularityBytes = 4096;
/** 13 blocks, the last one short. */
const imageBytes = 12 * granularityBytes + 700;
const imagePath = '/image';
const stateDirectory = '/state';
const requestsPerWaveMax = 12;
const waveCount = 3;
/** Crashes fall in 0..this many simulated calls: about half the runs crash mid-way, the others after their last wave. */
const crashStepsMax = 80;
/** With fewer seeds (a replay), the test does not ask that every outcome was seen. */
const seedsForCoverage = 20;

interface Request {
  kind: 'write' | 'zeroes' | 'trim';
  firstBlock: number;
  lastBlock: number;
  state: 'in flight' | 'acknowledged' | 'failed';
}

function makeImage(simulation: Simulation): Buffer {
  const fileSystem = simulation.backend.fileSystem;
  const initial = Buffer.alloc(imageBytes);
  simulation.prng.fill(initial);
  const inode = fileSystem.create(imagePath, 'file');
  fileSystem.write(inode, 0, initial);
  fileSystem.syncFile(inode);
  fileSystem.create(stateDirectory, 'directory');
  fileSystem.syncNames();
  return initial;
}

/** One process: the image opened, the change map opened from the state directory. */
async function openVolume(simulation: Simulation): Promise<Volume> {
  const { io } = simulation;
  const pool = new BufferPool({ bufferSizeBytes: granularityBytes, bufferCountMax: 64 });
  const handle = await io.openFile(imagePath, { access: 'read-write' });
  const stat = await io.stat(handle);
  const changeMap = await ChangeMap.open(io, stateDirectory, pool, { granularityBytes, image: stat, isAlive: () => false });
  return new Volume(new BlockFile(io, handle, pool), stat, { name: '', bitmapName: 'holdfast', readOnly: false, changeMap });
}

function startRequest(simulation: Simulation, volume: Volume, requests: Request[]): Promise<void> {
  const { prng } = simulation;
  const offset = prng.nextInt(imageBytes);
  const lengthBytes = 1 + prng.nextInt(Math.min(3 * granularityBytes, imageBytes - offset));
  const fua = prng.chance(0.3);
  const kind = prng.pick(['write', 'write', 'zeroes', 'trim'] as const);
  const request: Request = { kind, firstBlock: Math.floor(offset / granularityBytes), lastBlock: Math.floor((offset + lengthBytes - 1) / granularityBytes), state: 'in flight' };
  requests.push(request);
  let work: Promise<void>;
  if (kind === 'write') {
    const bytes = Buffer.alloc(lengthBytes);
    prng.fill(bytes);
    work = volume.write(offset, bytes, fua);
  } else if (kind === 'zeroes') {
    work = volume.writeZeroes(offset, lengthBytes, { noHole: prng.chance(0.5), fastZero: false }, fua);
  } else {
    work = volume.trim(offset, lengthBytes, fua);
  }
  return work.then(
    () => void (request.state = 'acknowledged'),
    () => void (request.state = 'failed'),
  );
}

async function runWaves(simulation: Simulation, volume: Volume, requests: Request[]): Promise<void> {
  for (let wave = 0; wave < waveCount; wave++) {
    const count = 1 + simulation.prng.nextInt(requestsPerWaveMax);
    await Promise.all(Array.from({ length: count }, () => startRequest(simulation, volume, requests)));
  }
}

function blocksOf(request: Request): number[] {
  return Array.from({ length: request.lastBlock - request.firstBlock + 1 }, (_, index) => request.firstBlock + index);
}

test('after a crash at any step under faults, the change map has every acknowledged change and every changed block', async (t) => {
  const outcomes = { crashedMidway: 0, completed: 0, acknowledged: 0, failed: 0, inFlight: 0, changedBlocks: 0, changedBlocksOfUnacknowledged: 0 };
  const seeds = await forEachSeed(40, {}, async (simulation) => {
    const initial = makeImage(simulation);
    const volume = await openVolume(simulation);
    assert.match(volume.changeMap!.resetReason ?? '', /no change map yet/);

    simulation.setFaults(faults);
    const requests: Request[] = [];
    const work = runWaves(simulation, volume, requests);
    const crash = simulation.crashAfter(simulation.prng.nextInt(crashStepsMax));
    await Promise.race([work, crash]);
    if (simulation.cancelCrash()) {
      outcomes.completed++;
      simulation.crash();
    } else {
      outcomes.crashedMidway++;
    }
    simulation.setFaults({});

    // A new process on what the disk kept.
    const image = simulation.backend.fileSystem.lookup(imagePath)!.data;
    assert.equal(image.length, imageBytes, 'the image changed size');
    const reopened = await openVolume(simulation);
    const map = reopened.changeMap!;
    assert.equal(map.resetReason, null, `the change map was reset after the crash: ${map.resetReason}`);
    assert.equal(map.resumedAfterUncleanStop, true);

    for (const request of requests) {
      if (request.state === 'acknowledged') outcomes.acknowledged++;
      else if (request.state === 'failed') outcomes.failed++;
      else outcomes.inFlight++;
      if (request.state !== 'acknowledged') continue;
      const missing = blocksOf(request).filter((block) => !map.bits.has(block));
      assert.deepEqual(missing, [], `an acknowledged ${request.kind} of blocks ${request.firstBlock}..${request.lastBlock} is not marked`);
    }
    const acknowledgedBlocks = new Set(requests.filter((request) => request.state === 'acknowledged').flatMap(blocksOf));
    for (let block = 0; block < map.bits.blockCount; block++) {
      const start = block * granularityBytes;
      const end = Math.min(start + granularityBytes, imageBytes);
      if (image.subarray(start, end).equals(initial.subarray(start, end))) continue;
      outcomes.changedBlocks++;
      if (!acknowledgedBlocks.has(block)) outcomes.changedBlocksOfUnacknowledged++;
      assert.ok(map.bits.has(block), `block ${block} of the image changed, and the change map does not have it`);
    }
    await map.close(null);
    await reopened.image.handle.close();
  });
  t.diagnostic(`${seeds} seeds: ${JSON.stringify(outcomes)}`);
  // The runs must really cover the cases, or the test shows little (a replay of one seed aside).
  if (seeds >= seedsForCoverage) {
    assert.ok(outcomes.crashedMidway > seeds / 4 && outcomes.completed > seeds / 10, `too few runs crashed mid-way or completed: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.failed > 0 && outcomes.inFlight > 0 && outcomes.changedBlocksOfUnacknowledged > 0, `the faults and crashes did not reach every case: ${JSON.stringify(outcomes)}`);
  }
});
