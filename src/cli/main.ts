/**
 * The holdfast command line. Each verb will live in a file of its own under cli/; until the
 * backup verbs exist, the CLI answers --help and --version and refuses anything else clearly.
 */
import { readFileSync } from 'node:fs';

const exitCodes = { ok: 0, fatal: 1 } as const;

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

const usage = `holdfast ${version()}: consistent, incremental, deduplicated, encrypted backups

Usage: holdfast [--help] [--version] <command> [options]

Commands:
  (none yet) the foundation is in place: handles, operations, the simulator.
             backup, restore, snapshots, check and the rest follow in later releases.

Options:
  -h, --help     show this help
  -V, --version  print the version

Environment:
  HOLDFAST_REPOSITORY, HOLDFAST_PASSWORD, HOLDFAST_PASSWORD_FILE  (used by the repository verbs)
`;

export function main(argv: readonly string[]): number {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage);
    return exitCodes.ok;
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`holdfast ${version()}\n`);
    return exitCodes.ok;
  }
  process.stderr.write(`holdfast: unknown command or option "${first}"; see "holdfast --help"\n`);
  return exitCodes.fatal;
}

process.exitCode = main(process.argv.slice(2));
