/**
 * holdfast export PATH... [--format stream|tar] [-o FILE|-] [--one-file-system] [--json]
 */
import { parseArgs } from 'node:util';
import { BufferPool, createNodeIo, exportArchive, OwnerNames, withFileWorkers, type ArchiveFormat, type Handle } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { formatBytes, Reporter } from './reporter.js';

export const exportUsage = `Usage: holdfast export PATH... [--format stream|tar] [-o FILE|-] [--one-file-system] [--json] [-q]

Writes every part of each PATH (data, holes, xattrs, ACLs, links, owners, ns times) as a
holdfast backup stream (default) or a POSIX pax tar that GNU tar and bsdtar extract.
Entry names start at each PATH's own name. Output goes to FILE, or to stdout with "-" (default;
refused when stdout is a terminal). A summary goes to stderr (-q, --quiet: none).
`;

const bufferBytes = 1024 * 1024;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'stream' },
      output: { type: 'string', short: 'o', default: '-' },
      'one-file-system': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(exportUsage);
    return exitCodes.ok;
  }
  const format = values.format as ArchiveFormat;
  if (format !== 'stream' && format !== 'tar') throw new UsageError(`--format must be stream or tar, not "${values.format}"`);
  if (positionals.length === 0) throw new UsageError('give at least one PATH to export');
  const toStdout = values.output === '-';
  if (toStdout && process.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal; use -o FILE or a pipe');
  const reporter = new Reporter({ verb: 'export', json: values.json, quiet: values.quiet, jsonStream: toStdout ? process.stderr : process.stdout });
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: bufferBytes, bufferCountMax: 2, label: 'export' });
  let output: Handle;
  if (toStdout) output = await io.standardStream('stdout');
  else output = await io.open(values.output, { access: 'write', create: true, truncate: true });
  try {
    const ownerNames = await OwnerNames.load();
    const summary = await withFileWorkers(io, ({ fileBatches }) =>
      exportArchive(io, positionals, output, {
        format,
        ownerNames,
        pool,
        oneFileSystem: values['one-file-system'],
        batches: fileBatches,
        onProblem: (path, error) => reporter.problem('skipped', path, error),
        onSkip: (path, reason) => reporter.problem('skipped', path, reason),
        onEntry: (progress) => reporter.progress(progress.entries, progress.dataBytes, progress.currentPath),
      }),
    );
    reporter.summary(
      { format, ...summary, problems: reporter.problems },
      `exported ${summary.entries} entries, ${formatBytes(summary.dataBytes)} of data, ${formatBytes(summary.outputBytes)} written`,
    );
  } catch (error) {
    reporter.fatal(error);
    return exitCodes.fatal;
  } finally {
    await output.close();
  }
  return reporter.problems > 0 ? exitCodes.partial : exitCodes.ok;
}

export class UsageError extends Error {
  override name = 'UsageError';
}
