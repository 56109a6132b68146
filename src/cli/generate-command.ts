/**
 * holdfast generate [--bash-completion FILE] [--zsh-completion FILE] [--fish-completion FILE]
 *                   [--man DIRECTORY]
 *
 * Writes shell completions and man pages made from the verbs' own usage texts (verb-catalog.ts),
 * as restic's generate. "-" as FILE writes a completion to stdout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { manPages } from './man-pages.js';
import { completionScript, type Shell } from './shell-completions.js';
import { verbCatalog, type VerbUsage } from './verb-catalog.js';

export const generateUsage = `Usage: holdfast generate [--bash-completion FILE] [--zsh-completion FILE] [--fish-completion FILE]
                         [--man DIRECTORY]

Writes shell completions (verbs, their options, file names) and man pages (holdfast.1 and
holdfast-VERB.1 for each verb), made from the same texts --help prints. "-" as FILE writes the
completion to stdout. For example:
  holdfast generate --bash-completion /etc/bash_completion.d/holdfast
  holdfast generate --fish-completion ~/.config/fish/completions/holdfast.fish
  holdfast generate --man /usr/local/share/man/man1
`;

export interface GenerateContext {
  topUsage: string;
  verbs: Readonly<Record<string, VerbUsage>>;
  version: string;
}

export function generateCommand(argv: string[], context: GenerateContext): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'bash-completion': { type: 'string' },
      'zsh-completion': { type: 'string' },
      'fish-completion': { type: 'string' },
      man: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(generateUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('generate takes options only');
  const catalog = verbCatalog(context.topUsage, context.verbs);
  const shells: [Shell, string | undefined][] = [
    ['bash', values['bash-completion']],
    ['zsh', values['zsh-completion']],
    ['fish', values['fish-completion']],
  ];
  if (shells.every(([, file]) => file === undefined) && values.man === undefined) throw new UsageError('give --bash-completion, --zsh-completion, --fish-completion or --man');
  for (const [shell, file] of shells) {
    if (file === undefined) continue;
    const script = completionScript(shell, catalog);
    if (file === '-') process.stdout.write(script);
    else writeFileSync(file, script);
  }
  if (values.man !== undefined) {
    mkdirSync(values.man, { recursive: true });
    const date = new Date().toISOString().slice(0, 10);
    for (const page of manPages(context.topUsage, catalog, context.version, date)) writeFileSync(join(values.man, page.fileName), page.text);
  }
  return exitCodes.ok;
}
