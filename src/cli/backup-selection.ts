/**
 * The options that choose what a backup stores, as restic names them: the paths (arguments,
 * --files-from, --files-from-verbatim, --files-from-raw, or --stdin), and what is left out
 * (--exclude, --iexclude and their -file forms, --exclude-caches, --exclude-if-present,
 * --exclude-larger-than). The rules themselves are engine/backup-filter.ts's.
 */
import { readFileSync } from 'node:fs';
import { cacheDirectoryTag, type BackupFilterOptions, type MarkerFile } from '../api/internal.js';
import { UsageError } from './export-command.js';

export const selectionOptionSpec = {
  exclude: { type: 'string', short: 'e', multiple: true, default: [] as string[] },
  iexclude: { type: 'string', multiple: true, default: [] as string[] },
  'exclude-file': { type: 'string', multiple: true, default: [] as string[] },
  'iexclude-file': { type: 'string', multiple: true, default: [] as string[] },
  'exclude-caches': { type: 'boolean', default: false },
  'exclude-if-present': { type: 'string', multiple: true, default: [] as string[] },
  'exclude-larger-than': { type: 'string' },
  'files-from': { type: 'string', multiple: true, default: [] as string[] },
  'files-from-verbatim': { type: 'string', multiple: true, default: [] as string[] },
  'files-from-raw': { type: 'string', multiple: true, default: [] as string[] },
  stdin: { type: 'boolean', default: false },
  'stdin-filename': { type: 'string', default: 'stdin' },
} as const;

export const selectionUsage = `What to back up:
  --files-from FILE          read paths from FILE, one per line ("#" comments and empty lines
                             are skipped; "-" reads stdin); may repeat
  --files-from-verbatim FILE  the same, every line a path as it is
  --files-from-raw FILE      paths separated by NUL bytes (find -print0)
  --stdin                    back up what stdin gives as one file (a database dump)
  --stdin-filename NAME      the name of that file in the snapshot (default "stdin")
What to leave out:
  -e, --exclude GLOB         leave out what GLOB matches: a name ("*.o"), a path below a PATH
                             ("build/*.o"), or an absolute path ("/home/ann/.cache"); may repeat
  --iexclude GLOB            the same without regard to case
  --exclude-file FILE        patterns from FILE, one per line ("#" comments); --iexclude-file too
  --exclude-caches           leave out the contents of directories marked with a CACHEDIR.TAG
                             (the directory and the tag stay)
  --exclude-if-present NAME  the same for directories that hold a file NAME; may repeat
  --exclude-larger-than SIZE  leave out files larger than SIZE (bytes, or 500K, 10M, 2G, 1T)
`;

export interface SelectionValues {
  exclude: string[];
  iexclude: string[];
  'exclude-file': string[];
  'iexclude-file': string[];
  'exclude-caches': boolean;
  'exclude-if-present': string[];
  'exclude-larger-than'?: string | undefined;
  'files-from': string[];
  'files-from-verbatim': string[];
  'files-from-raw': string[];
  stdin: boolean;
  'stdin-filename': string;
}

/** The paths to back up: the arguments, then those the --files-from options list. */
export function selectedPaths(values: SelectionValues, positionals: readonly string[]): string[] {
  const paths = [...positionals];
  for (const file of values['files-from']) paths.push(...lines(readList(file)).filter((line) => !line.startsWith('#')));
  for (const file of values['files-from-verbatim']) paths.push(...lines(readList(file)));
  for (const file of values['files-from-raw']) paths.push(...readList(file).toString('utf8').split('\0').filter((path) => path !== ''));
  return paths;
}

export function filterOptions(values: SelectionValues): Omit<BackupFilterOptions, 'pool'> {
  const patterns = (direct: string[], files: string[]): string[] => [...direct, ...files.flatMap((file) => lines(readList(file)).filter((line) => !line.startsWith('#')))];
  const markers: MarkerFile[] = values['exclude-if-present'].map((name) => {
    if (name === '' || name.includes('/')) throw new UsageError(`--exclude-if-present takes a file name, not "${name}"`);
    return { name, signature: null };
  });
  if (values['exclude-caches']) markers.push({ name: cacheDirectoryTag.name, signature: cacheDirectoryTag.signature });
  const size = values['exclude-larger-than'];
  return {
    patterns: patterns(values.exclude, values['exclude-file']),
    patternsCaseInsensitive: patterns(values.iexclude, values['iexclude-file']),
    markers,
    sizeBytesMax: size === undefined ? null : parseSize(size, '--exclude-larger-than'),
  };
}

/** True when any option leaves something out (none applies to --volume or --stdin). */
export function hasFilterOptions(values: SelectionValues): boolean {
  return values.exclude.length + values.iexclude.length + values['exclude-file'].length + values['iexclude-file'].length + values['exclude-if-present'].length > 0 || values['exclude-caches'] || values['exclude-larger-than'] !== undefined;
}

export function hasPathListOptions(values: SelectionValues): boolean {
  return values['files-from'].length + values['files-from-verbatim'].length + values['files-from-raw'].length > 0;
}

/** "1048576", "512K", "10M", "1.5G", "2T" (powers of 1024, as restic); a "B" or "iB" may follow. */
export function parseSize(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(?:([kKmMgGtT])(?:i?[bB])?|[bB])?$/.exec(text.trim());
  if (match === null) throw new UsageError(`${option} takes a size such as 500K, 10M or 2G, not "${text}"`);
  const exponent = match[2] === undefined ? 0 : 'kmgt'.indexOf(match[2].toLowerCase()) + 1;
  return Math.floor(Number(match[1]) * 1024 ** exponent);
}

function readList(file: string): Buffer {
  return readFileSync(file === '-' ? 0 : file);
}

function lines(bytes: Buffer): string[] {
  return bytes
    .toString('utf8')
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '');
}
