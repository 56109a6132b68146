/**
 * holdfast ls SNAPSHOT[:PATH] [--long] [repository options]
 *
 * Streams the entries in walk order, so a snapshot of millions of entries lists in constant
 * memory; that is why --long pads to fixed widths instead of measuring every row first.
 */
import { parseArgs } from 'node:util';
import { displayPath, isAtOrBelow, shownEntryPath, snapshotEntries, type EntryHeader, type EntryType } from '../api/internal.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { entryPathIn, parseSnapshotArgument } from './snapshot-argument.js';
import { findFilteredSnapshot, parseSnapshotFilter, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const lsUsage = `Usage: holdfast ls SNAPSHOT[:PATH] [--long] [--host H] [--tag T] [--path P]

Lists the entries of a snapshot ("latest" or an id), or of PATH in it and what is below it,
one absolute path per line in the order they were backed up (PATH is such a path). -l, --long
shows mode, owner, group, size and modification time as "ls -l" does, "-> target" for symbolic
links and "link to PATH" for hard links (type letter h, as tar -tv). With --json, one
object per entry: path, type, mode, uid, gid, user, group, size, mtime (ISO, nanoseconds).

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

const typeLetters: Record<EntryType, string> = {
  file: '-',
  hardlink: 'h',
  directory: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  'character-device': 'c',
  'block-device': 'b',
};

const ownerWidth = 8;
const sizeWidth = 12;
const nanosecondsPerSecond = 1_000_000_000n;
/** The largest time a Date holds (±8.64e15 ms); beyond it a time is shown as a number. */
const dateSecondsMax = 8_640_000_000_000n;

export async function lsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec, long: { type: 'boolean', short: 'l', default: false } },
  });
  if (values.help) {
    process.stdout.write(lsUsage);
    return exitCodes.ok;
  }
  if (positionals.length !== 1) throw new UsageError('give one SNAPSHOT[:PATH] to list');
  const argument = parseSnapshotArgument(positionals[0]!);
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'ls', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ repository }) => {
    const record = await findFilteredSnapshot(repository, argument.name, filter, reporter);
    const subPath = entryPathIn(record.snapshot, argument.path);
    let listed = 0;
    for await (const entry of snapshotEntries(repository, record.snapshot)) {
      if (!isAtOrBelow(entry.header.path, subPath)) continue;
      listed++;
      const header = entry.header;
      const show = (name: Buffer): string => shownEntryPath(record.snapshot, name);
      if (values.json) process.stdout.write(`${JSON.stringify(entryJson(header, show))}\n`);
      else if (values.long) process.stdout.write(`${longLine(header, show)}\n`);
      else process.stdout.write(`${show(header.path)}\n`);
    }
    if (subPath !== null && listed === 0) {
      throw holdfastError('HOLDFAST_MISSING', { operation: 'list', path: argument.path! }, `snapshot ${record.id.slice(0, 8)} has no such entry`);
    }
    return exitCodes.ok;
  });
}

/** One entry as --json shows it (ls and find); `show` gives a name as shown (shownEntryPath). */
export function entryJson(header: EntryHeader, show: (name: Buffer) => string): Record<string, unknown> {
  return {
    path: show(header.path),
    type: header.type,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    user: header.userName,
    group: header.groupName,
    size: header.sizeBytes,
    mtime: isoTimeNs(header.mtimeNs),
    linkTarget: header.linkTarget === null ? null : header.type === 'hardlink' ? show(header.linkTarget) : displayPath(header.linkTarget),
  };
}

function longLine(header: EntryHeader, show: (name: Buffer) => string): string {
  const owner = (header.userName ?? String(header.uid)).padEnd(ownerWidth);
  const group = (header.groupName ?? String(header.gid)).padEnd(ownerWidth);
  const size = String(header.sizeBytes).padStart(sizeWidth);
  const target = header.linkTarget === null ? '' : header.type === 'hardlink' ? ` link to ${show(header.linkTarget)}` : ` -> ${displayPath(header.linkTarget)}`;
  return `${modeString(header.type, header.mode)} ${owner} ${group} ${size} ${isoTimeNs(header.mtimeNs, false)} ${show(header.path)}${target}`;
}

/** "drwxr-xr-x", with s/S and t/T for setuid, setgid and sticky, as ls -l writes them. */
export function modeString(type: EntryType, mode: number): string {
  const bit = (mask: number, letter: string): string => ((mode & mask) !== 0 ? letter : '-');
  const special = (execute: number, flag: number, letter: string): string => {
    if ((mode & flag) === 0) return bit(execute, 'x');
    return (mode & execute) !== 0 ? letter : letter.toUpperCase();
  };
  return (
    typeLetters[type] +
    bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's') +
    bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's') +
    bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't')
  );
}

/**
 * A nanosecond time as ISO 8601 UTC: "2024-05-01T12:00:00.123456789Z", or to the second
 * ("2024-05-01T12:00:00Z") without `nanoseconds`. Times before 1970 work; times a Date cannot
 * hold are shown as their nanosecond count.
 */
export function isoTimeNs(timeNs: bigint, nanoseconds = true): string {
  let seconds = timeNs / nanosecondsPerSecond;
  let fraction = timeNs % nanosecondsPerSecond;
  if (fraction < 0n) {
    seconds -= 1n;
    fraction += nanosecondsPerSecond;
  }
  if (seconds > dateSecondsMax || seconds < -dateSecondsMax) return `${timeNs}ns`;
  const whole = new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, '');
  return nanoseconds ? `${whole}.${fraction.toString().padStart(9, '0')}Z` : `${whole}Z`;
}
