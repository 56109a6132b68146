/**
 * Include and exclude patterns, as restic users write them: a pattern without "/" matches an
 * entry's own name at any depth ("*.o", ".cache"); a pattern with "/" matches the entry's path,
 * either below the backed-up root ("build/*.o") or from the root's own name ("src/build").
 * `**` crosses directories; names beginning with "." are matched like any other.
 */
import { minimatch } from 'minimatch';

export function compileGlobs(patterns: readonly string[]): (name: string) => boolean {
  if (patterns.length === 0) return () => false;
  const options = { dot: true, nocomment: true, nonegate: true };
  const byName = patterns.filter((pattern) => !pattern.includes('/'));
  const byPath = patterns.filter((pattern) => pattern.includes('/')).map((pattern) => pattern.replace(/^\/+/, ''));
  return (name) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (byName.some((pattern) => minimatch(base, pattern, options))) return true;
    const belowRoot = name.includes('/') ? name.slice(name.indexOf('/') + 1) : '';
    return byPath.some((pattern) => minimatch(name, pattern, options) || (belowRoot !== '' && minimatch(belowRoot, pattern, options)));
  };
}
