/**
 * Include and exclude patterns, as restic users write them: a pattern without "/" matches an
 * entry's own name at any depth ("*.o", ".cache"); a pattern with "/" matches the end of the
 * entry's path, whole names from any depth on ("build/*.o" matches "src/build/x.o", not
 * "src/mybuild/x.o"). A pattern that begins with "/" is absolute: where the entry's place on the
 * file system is known (backup), it matches that absolute path ("/home/ann/.cache"); elsewhere
 * (restore, find: the entry's name in the snapshot, absolute in a version 2 snapshot) it
 * matches the name from its start.
 * `**` crosses directories; names beginning with "." are matched like any other.
 */
import { minimatch, type MinimatchOptions } from 'minimatch';

export interface GlobOptions {
  /** Match without regard to case (restic's --iexclude). */
  caseInsensitive?: boolean;
}

/** `absolutePath` is where the entry is on the file system, when known. */
export type GlobMatcher = (name: string, absolutePath?: string) => boolean;

export function compileGlobs(patterns: readonly string[], options: GlobOptions = {}): GlobMatcher {
  if (patterns.length === 0) return () => false;
  const matchOptions: MinimatchOptions = { dot: true, nocomment: true, nonegate: true, nocase: options.caseInsensitive === true };
  const byName = patterns.filter((pattern) => !pattern.includes('/'));
  const absolute = patterns.filter((pattern) => pattern.startsWith('/')).map((pattern) => pattern.replace(/\/+$/, ''));
  const byPath = patterns.filter((pattern) => pattern.includes('/') && !pattern.startsWith('/'));
  const relativeOnly = absolute.map((pattern) => pattern.replace(/^\/+/, ''));
  const matches = (text: string, pattern: string): boolean => minimatch(text, pattern, matchOptions);
  return (name, absolutePath) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (byName.some((pattern) => matches(base, pattern))) return true;
    if (absolutePath !== undefined && absolute.some((pattern) => matches(absolutePath, pattern))) return true;
    if (absolutePath === undefined && relativeOnly.some((pattern) => matches(name, pattern))) return true;
    for (let start = 0; byPath.length > 0; ) {
      const suffix = name.slice(start);
      if (byPath.some((pattern) => matches(suffix, pattern))) return true;
      const slash = name.indexOf('/', start);
      if (slash === -1) break;
      start = slash + 1;
    }
    return false;
  };
}
