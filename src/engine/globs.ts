/**
 * Include and exclude patterns, as restic users write them: a pattern without "/" matches an
 * entry's own name at any depth ("*.o", ".cache"); a pattern with "/" matches the entry's path,
 * either below the backed-up root ("build/*.o") or from the root's own name ("src/build").
 * A pattern that begins with "/" is absolute: where the entry's place on the file system is known
 * (backup), it matches that absolute path ("/home/ann/.cache"); elsewhere (restore, find, where
 * only the entry's name is) it is taken from the root's own name, as before.
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
    const belowRoot = name.includes('/') ? name.slice(name.indexOf('/') + 1) : '';
    const relative = absolutePath === undefined ? [...byPath, ...relativeOnly] : byPath;
    return relative.some((pattern) => matches(name, pattern) || (belowRoot !== '' && matches(belowRoot, pattern)));
  };
}
