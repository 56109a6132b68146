/**
 * What `generate` needs to know of the CLI, read from the usage texts the verbs already print, so
 * that completions and man pages can never drift from `--help`: each verb's one-line summary
 * (from the top-level usage's "Commands:" list) and its options (every "-x, --name" and "--name"
 * the verb's usage shows, with whether it takes a value).
 */

export interface CatalogOption {
  /** "--repo" */
  long: string;
  /** "-r", or null. */
  short: string | null;
  /** True when the usage shows a value after it ("--repo DIR"). */
  takesValue: boolean;
}

export interface CatalogVerb {
  name: string;
  summary: string;
  usage: string;
  options: CatalogOption[];
}

export interface VerbUsage {
  usage: string;
}

/** The verbs of `table`, in the order of the top-level usage's command list. */
export function verbCatalog(topUsage: string, table: Readonly<Record<string, VerbUsage>>): CatalogVerb[] {
  const summaries = commandSummaries(topUsage);
  return Object.entries(table)
    .map(([name, verb]) => ({ name, summary: summaries.get(name) ?? '', usage: verb.usage, options: usageOptions(verb.usage) }))
    .sort((a, b) => orderOf(summaries, a.name) - orderOf(summaries, b.name));
}

function orderOf(summaries: Map<string, string>, name: string): number {
  const index = [...summaries.keys()].indexOf(name);
  return index === -1 ? Number.MAX_SAFE_INTEGER : index;
}

/** "  init       create an encrypted repository" lines under "Commands:". */
function commandSummaries(topUsage: string): Map<string, string> {
  const summaries = new Map<string, string>();
  const section = topUsage.split(/\n\s*\n/).find((block) => block.startsWith('Commands:')) ?? '';
  for (const line of section.split('\n').slice(1)) {
    const match = /^ {2}([a-z]+) {2,}(.+)$/.exec(line);
    if (match !== null) summaries.set(match[1]!, match[2]!.trim());
  }
  return summaries;
}

/** Options as a usage text shows them, each once, in order of first appearance. */
export function usageOptions(usage: string): CatalogOption[] {
  const found = new Map<string, CatalogOption>();
  const pattern = /(?:^|[\s[(|])(?:(-[a-zA-Z]), )?(--[a-z](?:[a-z0-9-]*[a-z0-9])?)(?![a-z0-9*-])(?:[ =]([A-Z][A-Z0-9_.[\]|,-]*))?/g;
  for (const match of usage.matchAll(pattern)) {
    const long = match[2]!;
    const known = found.get(long);
    const option: CatalogOption = { long, short: match[1] ?? known?.short ?? null, takesValue: match[3] !== undefined || (known?.takesValue ?? false) };
    found.set(long, option);
  }
  return [...found.values()];
}
