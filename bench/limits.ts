/**
 * The physical limits on this machine (issue 17): how fast each stage of a backup can go on one
 * core, measured with the very functions holdfast uses, so that each step's distance from what the
 * hardware allows is visible beside the results in bench/README.md.
 *
 *   npm run bench:limits [-- DATA_DIRECTORY]
 *
 * Prints MiB/s (median of 5 passes over the same bytes) for: the chunker (repo/chunker.ts), BLAKE3
 * ids (repo/blob-id.ts), zstd level 3 of text and of random bytes (repo/compression.ts), AES-256-GCM
 * (repo/seal.ts), and, given a directory, `cat` of every file under it to /dev/null (warm cache,
 * median of 3) with its files per second. One thread each: the worker pool has two.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { blobId } from '../src/repo/blob-id.js';
import { Chunker } from '../src/repo/chunker.js';
import { compressIfWorth } from '../src/repo/compression.js';
import { seal } from '../src/repo/seal.js';

const sizeBytes = 256 * 1024 * 1024;
const pieceBytes = 1024 * 1024;
const passes = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** MiB/s of `run` over `bytes`, median of `passes` passes. */
function rate(bytes: number, run: () => void): number {
  const rates: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const started = process.hrtime.bigint();
    run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rates.push(bytes / (1024 * 1024) / seconds);
  }
  return median(rates);
}

/** Lines of words, as make-dataset.py's text files: compressible, not trivially so. */
function text(bytes: number): Buffer {
  const words = ['backup', 'snapshot', 'chunk', 'pack', 'index', 'tree', 'restore', 'handle', 'worker', 'journal', 'extent', 'inode'];
  const parts: string[] = [];
  let length = 0;
  let seed = 1;
  while (length < bytes) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const line = `${words[seed % words.length]} ${seed % 9973} ${words[(seed >> 8) % words.length]}\n`;
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

function pieces(bytes: Buffer): Buffer[] {
  const result: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) result.push(bytes.subarray(offset, offset + pieceBytes));
  return result;
}

const random = randomBytes(sizeBytes);
const randomPieces = pieces(random);
const textPieces = pieces(text(64 * 1024 * 1024));
const key = randomBytes(32);

const rows: [string, string][] = [];
rows.push([
  'chunker (FastCDC, TypeScript)',
  rate(sizeBytes, () => {
    const chunker = new Chunker(key);
    for (const piece of randomPieces) chunker.push(piece);
    chunker.finish();
  }).toFixed(0),
]);
rows.push(['BLAKE3 keyed id (@napi-rs/blake-hash), 1 MiB pieces', rate(sizeBytes, () => randomPieces.forEach((piece) => blobId(key, piece))).toFixed(0)]);
rows.push(['zstd level 3, text (@cloudpss/zstd)', rate(64 * 1024 * 1024, () => textPieces.forEach((piece) => compressIfWorth(piece))).toFixed(0)]);
rows.push(['zstd level 3, random bytes (stored uncompressed)', rate(sizeBytes / 4, () => randomPieces.slice(0, 64).forEach((piece) => compressIfWorth(piece))).toFixed(0)]);
rows.push(['AES-256-GCM (node:crypto), 1 MiB pieces', rate(sizeBytes, () => randomPieces.forEach((piece) => seal(key, piece))).toFixed(0)]);

const directory = process.argv[2];
if (directory !== undefined) {
  const bytes = Number(execFileSync('du', ['-sb', '--apparent-size', directory], { encoding: 'utf8' }).split('\t')[0]);
  const files = Number(execFileSync('sh', ['-c', 'find "$1" -type f | wc -l', 'sh', directory], { encoding: 'utf8' }).trim());
  const seconds: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const started = process.hrtime.bigint();
    execFileSync('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', 'sh', directory]);
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  const taken = median(seconds);
  rows.push([`cat of ${files} files (${(bytes / 1048576).toFixed(0)} MiB) to /dev/null, warm cache: ${taken.toFixed(2)} s, ${(files / taken).toFixed(0)} files/s`, (bytes / 1048576 / taken).toFixed(0)]);
}

console.log('| stage, one thread | MiB/s |');
console.log('| --- | ---: |');
for (const [stage, value] of rows) console.log(`| ${stage} | ${value} |`);
