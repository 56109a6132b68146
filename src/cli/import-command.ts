/**
 * holdfast import [FILE|-] --target DIR [--format auto|stream|tar] [--numeric-owner]
 *                 [--no-same-owner] [--no-acls] [--no-xattrs] [--private-parents] [--json]
 */
import { realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BufferPool, createNodeIo, importArchive, OwnerNames, withFileWorkers, type Handle, type ImportFormat } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { makeDirectories } from './make-directories.js';
import { formatBytes, Reporter } from './reporter.js';

export const importUsage = `Usage: holdfast import [FILE|-] --target DIR [--format auto|stream|tar] [--numeric-owner]
                       [--no-same-owner] [--no-acls] [--no-xattrs] [--private-parents] [--json] [-q]

Restores a holdfast backup stream or a tar archive (pax, ustar or GNU; plain, gzip or zstd)
from FILE or stdin under DIR (created if missing). Nothing outside DIR is created, changed or
followed: entries with ".." or a path through a symlink are refused and reported (exit 3).
As root, owners and trusted.*/security.* xattrs are restored too. Parent directories the
input does not list are made as tar makes them, 0777 less the umask; --private-parents makes
them 0700. A summary goes to stderr (-q, --quiet: none; --json: one JSON object per line on stdout).
`;

const bufferBytes = 1024 * 1024;

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string', short: 'C' },
      format: { type: 'string', default: 'auto' },
      'numeric-owner': { type: 'boolean', default: false },
      'no-same-owner': { type: 'boolean', default: false },
      'no-acls': { type: 'boolean', default: false },
      'no-xattrs': { type: 'boolean', default: false },
      'private-parents': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(importUsage);
    return exitCodes.ok;
  }
  const format = values.format as ImportFormat;
  if (format !== 'auto' && format !== 'stream' && format !== 'tar') throw new UsageError(`--format must be auto, stream or tar, not "${values.format}"`);
  if (values.target === undefined) throw new UsageError('give the directory to restore into with --target DIR');
  if (positionals.length > 1) throw new UsageError('give one FILE (or - for stdin)');
  const inputPath = positionals[0] ?? '-';
  makeDirectories(values.target, 'create the import target');
  const target = Buffer.from(realpathSync(values.target));
  const reporter = new Reporter({ verb: 'import', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: bufferBytes, bufferCountMax: 2, label: 'import' });
  const root = process.getuid?.() === 0;
  const input: Handle = inputPath === '-' ? await io.standardStream('stdin') : await io.open(inputPath);
  let entries = 0;
  try {
    const ownerNames = await OwnerNames.load();
    const summary = await withFileWorkers(io, ({ restoreBatches }) =>
      importArchive(io, input, target, {
        format,
        pool,
        inputName: inputPath === '-' ? 'stdin' : inputPath,
        owners: root && !values['no-same-owner'],
        numericOwner: values['numeric-owner'],
        acls: !values['no-acls'],
        xattrs: !values['no-xattrs'],
        privilegedXattrs: root,
        // tar's mode for a directory it makes unasked (mkdir 0777, the umask applies).
        implicitDirectoryMode: values['private-parents'] ? 0o700 : 0o777,
        ownerNames,
        batches: restoreBatches,
        onWarning: (path, message) => reporter.problem('warning', path, message),
        onRefused: (path, error) => reporter.problem('refused', path, error),
      }),
    );
    entries = summary.entriesRestored;
    reporter.summary({ ...summary, problems: reporter.problems }, `imported ${entries} entries, ${formatBytes(summary.dataBytes)} of data (${summary.format}${summary.compression === 'none' ? '' : `, ${summary.compression}`})`);
  } catch (error) {
    reporter.fatal(error);
    return exitCodes.fatal;
  } finally {
    await input.close();
  }
  return reporter.problems > 0 ? exitCodes.partial : exitCodes.ok;
}
