/**
 * The holdfast command line: one file per verb under cli/.
 */
import { readFileSync } from 'node:fs';
import { exitCodes } from './exit-codes.js';
import { interruption } from './interruption.js';
import { exportCommand, exportUsage, UsageError } from './export-command.js';
import { importCommand, importUsage } from './import-command.js';
import { backupCommand, backupUsage } from './backup-command.js';
import { checkCommand, checkUsage } from './check-command.js';
import { initCommand, initUsage } from './init-command.js';
import { restoreCommand, restoreUsage } from './restore-command.js';
import { snapshotsCommand, snapshotsUsage } from './snapshots-command.js';
import { lsCommand, lsUsage } from './ls-command.js';
import { diffCommand, diffUsage } from './diff-command.js';
import { findCommand, findUsage } from './find-command.js';
import { statsCommand, statsUsage } from './stats-command.js';
import { keyCommand, keyUsage } from './key-command.js';
import { repairCommand, repairUsage } from './repair-command.js';
import { pruneCommand, pruneUsage } from './prune-command.js';
import { forgetCommand, forgetUsage } from './forget-command.js';
import { volumeCommand, volumeUsage } from './volume-command.js';
import { leadingGlobalOptions, parseErrorMessage, withGlobalOptions, type LeadingOptions } from './global-options.js';
import { tagCommand, tagUsage } from './tag-command.js';
import { unlockCommand, unlockUsage } from './unlock-command.js';
import { catCommand, catUsage } from './cat-command.js';
import { dumpCommand, dumpUsage } from './dump-command.js';
import { generateCommand, generateUsage } from './generate-command.js';

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

const usage = `holdfast ${version()}: consistent, incremental, deduplicated, encrypted backups

Usage: holdfast [--help] [--version] [global options] <command> [options]

Commands:
  init       create an encrypted repository
  backup     store file trees as a snapshot (creates the default repository on first use)
  snapshots  list snapshots
  ls         list the entries of a snapshot
  diff       what changed between two snapshots
  find       find files by name in every snapshot
  restore    restore a snapshot, or a path in it, under a directory
  dump       write a file of a snapshot to stdout, or a directory as a tar
  check      check the repository (--read-data reads and verifies every pack)
  repair     rebuild the index from the packs, or rewrite damaged snapshots without lost files
  forget     remove snapshots by id or by a retention policy (--keep-daily 7 ...)
  tag        add, remove or set the tags of snapshots
  prune      delete and repack data that no snapshot needs (beside running backups)
  key        add, list, remove or change the passwords of a repository
  unlock     remove stale locks (--remove-all: every lock) and name the live ones
  cat        print a repository file (config, snapshot, index, key, lock) as JSON
  stats      what the repository holds and how well it deduplicates
  export     write file trees as a holdfast backup stream or a pax tar
  import     restore a backup stream or a tar (plain, gzip, zstd) under a directory
  volume     serve a disk image over NBD with change tracking; take flush-and-hold snapshots
  generate   write shell completions (bash, zsh, fish) and man pages

Options:
  -h, --help     show this help (also: holdfast <command> --help)
  -V, --version  print the version

Global options (before or after the command; see "holdfast <command> --help"):
  -r, --repo DIR, --password-file FILE, --trace FILE, --retry-lock DURATION, --json, -q, --quiet

Environment:
  HOLDFAST_REPOSITORY, HOLDFAST_PASSWORD, HOLDFAST_PASSWORD_FILE  (used by the repository verbs)

Exit codes: 0 ok, 1 fatal, 3 finished but some entries were left out, 10 no repository,
11 locked by another process, 12 wrong password, 130 interrupted (SIGINT), 141 stdout was closed.
`;

const verbs: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  init: { run: initCommand, usage: initUsage },
  backup: { run: backupCommand, usage: backupUsage },
  snapshots: { run: snapshotsCommand, usage: snapshotsUsage },
  ls: { run: lsCommand, usage: lsUsage },
  diff: { run: diffCommand, usage: diffUsage },
  find: { run: findCommand, usage: findUsage },
  restore: { run: restoreCommand, usage: restoreUsage },
  key: { run: keyCommand, usage: keyUsage },
  prune: { run: pruneCommand, usage: pruneUsage },
  stats: { run: statsCommand, usage: statsUsage },
  check: { run: checkCommand, usage: checkUsage },
  repair: { run: repairCommand, usage: repairUsage },
  forget: { run: forgetCommand, usage: forgetUsage },
  export: { run: exportCommand, usage: exportUsage },
  import: { run: importCommand, usage: importUsage },
  volume: { run: volumeCommand, usage: volumeUsage },
  tag: { run: tagCommand, usage: tagUsage },
  unlock: { run: unlockCommand, usage: unlockUsage },
  cat: { run: catCommand, usage: catUsage },
  dump: { run: dumpCommand, usage: dumpUsage },
  generate: { run: (argv) => Promise.resolve(generateCommand(argv, { topUsage: usage, verbs, version: version() })), usage: generateUsage },
};

export async function main(argv: readonly string[]): Promise<number> {
  let leading: LeadingOptions;
  try {
    leading = leadingGlobalOptions(argv);
  } catch (error) {
    process.stderr.write(`holdfast: ${(error as Error).message}\n`);
    return exitCodes.fatal;
  }
  const [first, ...rest] = leading.rest;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage);
    return exitCodes.ok;
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`holdfast ${version()}\n`);
    return exitCodes.ok;
  }
  const verb = verbs[first];
  if (verb === undefined) {
    process.stderr.write(`holdfast: unknown command or option "${first}"; see "holdfast --help"\n`);
    return exitCodes.fatal;
  }
  try {
    return await verb.run(withGlobalOptions(rest, leading.options));
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`holdfast ${first}: ${parseErrorMessage(error as Error)}\n\n${verb.usage}`);
      return exitCodes.fatal;
    }
    process.stderr.write(`holdfast ${first}: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodes.fatal;
  }
}

// SIGINT and a closed stdout stop a verb at a safe point and set the exit code (interruption.ts).
interruption.install();
const verbExitCode = await main(process.argv.slice(2));
process.exitCode = interruption.exitCode ?? verbExitCode;
