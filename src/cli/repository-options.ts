/**
 * What every repository verb shares: where the repository is, its password, tracing, and the
 * exit codes of DESIGN.md §3.
 *
 * Where: --repo, else HOLDFAST_REPOSITORY, else the embedded default — a repository in the XDG
 * data directory ($XDG_DATA_HOME/holdfast/repository, ~/.local/share by default) whose password
 * is a generated key file beside it (repository.key, mode 0600). `backup` and `init` create the
 * default on first use and say where both are, once; other verbs expect it to exist. Several
 * first backups at once share one key file and one repository (the first init wins).
 *
 * Password: --password-file, else HOLDFAST_PASSWORD_FILE, else HOLDFAST_PASSWORD, else the
 * default's key file, else a prompt on a terminal; read only once the repository was found.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { installFlightRecorderDumps, TraceRecorder, withRepository, type LockMode, type LockOptions, type PasswordSource, type RepositorySession } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { interruption } from './interruption.js';
import { readPasswordFromTerminal } from './password-prompt.js';
import type { Reporter } from './reporter.js';

export const repositoryOptionSpec = {
  repo: { type: 'string', short: 'r' },
  'password-file': { type: 'string' },
  trace: { type: 'string' },
  'retry-lock': { type: 'string' },
  'no-lock': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const repositoryOptionsUsage = `Repository options (every repository verb):
  -r, --repo DIR         the repository (default: HOLDFAST_REPOSITORY, else the embedded default
                         in $XDG_DATA_HOME/holdfast/repository)
  --password-file FILE   read the password from FILE (also HOLDFAST_PASSWORD_FILE, HOLDFAST_PASSWORD)
  --trace FILE           write a Chrome trace-event file of every pooled job (opens in Perfetto)
  --retry-lock DURATION  wait up to DURATION (30s, 5m, 1h) for a conflicting lock to go
                         (default: fail at once with exit code 11)
  --no-lock              take no lock (verbs that only read: for a read-only repository; they
                         also go on without one, with a warning, where no lock can be written)
  --json                 JSON lines on stdout
  -q, --quiet            no summary and no progress display (problems and errors still show)
Exit codes: 0 ok, 1 fatal, 3 some files were left out, 10 no repository, 11 locked by another
process (or this one's lock was lost), 12 wrong password, 130 interrupted (SIGINT: stops after
the work in flight and releases the lock; a second SIGINT stops at once), 141 stdout was closed
(\`holdfast ls ... | head\`). SIGUSR2 writes the flight recorder to $XDG_CACHE_HOME/holdfast/ and goes on.
`;

export interface RepositoryValues {
  repo?: string | undefined;
  'password-file'?: string | undefined;
  trace?: string | undefined;
  'retry-lock'?: string | undefined;
  'no-lock'?: boolean | undefined;
  json: boolean;
  quiet?: boolean | undefined;
}

export interface RepositoryPlace {
  location: string;
  /** Set for the embedded default: its key file. */
  defaultKeyFile: string | null;
}

export function defaultRepositoryPlace(): { location: string; keyFile: string } {
  const directory = join(xdgDirectory('XDG_DATA_HOME', ['.local', 'share']), 'holdfast');
  return { location: join(directory, 'repository'), keyFile: join(directory, 'repository.key') };
}

export function cacheDirectory(): string {
  return join(xdgDirectory('XDG_CACHE_HOME', ['.cache']), 'holdfast');
}

/**
 * An XDG base directory: the variable's value, or its default below $HOME. The XDG Base
 * Directory spec counts an empty value as unset and calls a relative one invalid, to be ignored
 * (service managers and scripts often leave XDG_DATA_HOME="").
 */
function xdgDirectory(variable: string, homeDefault: readonly string[]): string {
  const value = process.env[variable];
  return value !== undefined && isAbsolute(value) ? value : join(homedir(), ...homeDefault);
}

export function repositoryPlace(values: RepositoryValues): RepositoryPlace {
  const named = values.repo ?? process.env['HOLDFAST_REPOSITORY'];
  if (named !== undefined && named !== '') return { location: resolve(named), defaultKeyFile: null };
  const place = defaultRepositoryPlace();
  return { location: place.location, defaultKeyFile: place.keyFile };
}

/**
 * Where the password comes from: a file, the environment, the default's key file or a prompt.
 * It is read when the repository asks for it, once it was found, so that a missing repository
 * is reported as such (exit code 10) and not as a missing password; and read once. For a new
 * repository (`newKey`) a prompt asks twice, and an empty password is refused (as the library
 * refuses it from anywhere).
 */
export function readPassword(values: RepositoryValues, place: RepositoryPlace, purpose: string, options: { newKey?: boolean } = {}): Promise<PasswordSource> {
  let read: Promise<Buffer> | null = null;
  const source = (): Promise<Buffer> => (read ??= passwordFromSomewhere(values, place, purpose, options.newKey === true));
  return Promise.resolve(source);
}

async function passwordFromSomewhere(values: RepositoryValues, place: RepositoryPlace, purpose: string, newKey: boolean): Promise<Buffer> {
  const file = values['password-file'] ?? process.env['HOLDFAST_PASSWORD_FILE'];
  if (file !== undefined && file !== '') return Buffer.from(readFileSync(file, 'utf8').replace(/\r?\n$/, ''), 'utf8');
  const given = process.env['HOLDFAST_PASSWORD'];
  if (given !== undefined) return Buffer.from(given, 'utf8');
  if (place.defaultKeyFile !== null && existsSync(place.defaultKeyFile)) return readFileSync(place.defaultKeyFile);
  if (!process.stdin.isTTY) throw new UsageError(`no password: set HOLDFAST_PASSWORD or HOLDFAST_PASSWORD_FILE, or give --password-file`);
  const password = await readPasswordFromTerminal(`Password for ${purpose}: `);
  if (!newKey) return password;
  if (password.length === 0) throw new UsageError('the password is empty; give a password to protect the repository with');
  if (!password.equals(await readPasswordFromTerminal('Password again: '))) throw new UsageError('the two passwords differ');
  return password;
}

/** True when the user gave a password (--password-file, HOLDFAST_PASSWORD_FILE or HOLDFAST_PASSWORD). */
export function passwordGiven(values: RepositoryValues): boolean {
  const file = values['password-file'] ?? process.env['HOLDFAST_PASSWORD_FILE'];
  return (file !== undefined && file !== '') || process.env['HOLDFAST_PASSWORD'] !== undefined;
}

/**
 * Makes the embedded default's key file (mode 0600, directory 0700) when neither it nor the
 * repository exists; returns true when the repository is still to be made (by the caller).
 * The key file appears whole or not at all (written aside, synced, then linked to its name):
 * of several first runs at once one writes it and every one reads the same key. When the user
 * gave a password, that password protects the repository and no key file is made (one would
 * not open it, and the user would keep the wrong secret).
 */
export function prepareDefaultRepository(place: RepositoryPlace, values: RepositoryValues): boolean {
  if (place.defaultKeyFile === null || existsSync(join(place.location, 'config'))) return false;
  mkdirSync(dirname(place.defaultKeyFile), { recursive: true, mode: 0o700 });
  if (!passwordGiven(values) && !existsSync(place.defaultKeyFile)) writeFileOnce(place.defaultKeyFile, randomBytes(32).toString('base64url'));
  return true;
}

/** What protects the default repository, for the note that says where it is. */
export function defaultRepositorySecret(place: RepositoryPlace, values: RepositoryValues): string {
  if (passwordGiven(values)) return 'password:   the one you gave (--password-file, HOLDFAST_PASSWORD_FILE or HOLDFAST_PASSWORD); no key file was made';
  return `key file:   ${place.defaultKeyFile} (mode 0600; keep a copy somewhere safe: without it the backups cannot be read)`;
}

/** Writes `path` (mode 0600) unless it exists, durably and never partly; a writer that loses the race leaves nothing. */
function writeFileOnce(path: string, text: string): void {
  const temporary = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const descriptor = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(descriptor, text);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  const directory = openSync(dirname(path), 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}

export function keyOwner(): { hostname: string; username: string } {
  return { hostname: hostname(), username: userInfo().username };
}

/**
 * Runs a verb's body in a repository session with tracing: --trace FILE records every event;
 * SIGUSR2 dumps the flight recorder beside the cache without stopping. Maps the errors of
 * opening a repository to their exit codes. `create`: true makes the repository (init);
 * 'unless-exists' makes it, or opens the one that another process made first (the default
 * repository's first backups), and tells the body which happened.
 */
export async function runInRepository(
  values: RepositoryValues,
  reporter: Reporter,
  options: { place: RepositoryPlace; password: PasswordSource; create?: boolean | 'unless-exists'; loadIndex?: boolean; lock?: LockMode | 'none'; readOnly?: boolean },
  body: (session: RepositorySession, opened: { created: boolean }) => Promise<number>,
): Promise<number> {
  // A verb that writes needs its lock: prune must know it is there.
  if (values['no-lock'] === true && options.readOnly !== true) throw new UsageError('--no-lock is only for verbs that only read (snapshots, ls, restore, check, diff, find, stats, key list)');
  const recorder = new TraceRecorder();
  if (values.trace !== undefined) recorder.recordToFile(values.trace);
  const uninstall = installFlightRecorderDumps(recorder, cacheDirectory(), (line) => process.stderr.write(`holdfast: ${line}\n`));
  let bodyStarted = false;
  // SIGINT or a closed stdout aborts the session's signal (interruption.ts): the verb stops at
  // a safe point, the workers finish their jobs, the lock is released, then the process exits.
  const session = (create: boolean): Promise<number> =>
    interruption.orderly(() =>
      withRepository(
        {
          location: options.place.location,
          password: options.password,
          recorder,
          ...(create ? { create: keyOwner() } : {}),
          ...(options.loadIndex === false ? { loadIndex: false } : {}),
          lock: lockOptions(values, values['no-lock'] === true ? 'none' : (options.lock ?? 'shared'), reporter),
          // Reading a read-only repository (a mounted backup disk) must work: without a lock then.
          ...(options.readOnly === true ? { onLockUnwritable: (error: Error) => reporter.problem('warning', options.place.location, `cannot write a lock (${(error as { code?: string }).code ?? error.message}): going on without one, as --no-lock; a prune running meanwhile could delete what this reads`) } : {}),
          signal: interruption.signal,
        },
        (opened) => {
          bodyStarted = true;
          // Another key opened it; the user should still hear that a key file is damaged.
          for (const error of opened.repository.damagedKeys) reporter.problem('warning', error.path, error);
          // Left out, the blobs it named found from the packs' headers; repair index rewrites it.
          for (const error of opened.repository.damagedIndexFiles) reporter.problem('warning', error.path, error);
          return body(opened, { created: create });
        },
      ),
    );
  try {
    try {
      return await session(options.create === true || options.create === 'unless-exists');
    } catch (error) {
      const exists = (error as { code?: unknown } | null)?.code === 'HOLDFAST_REPOSITORY_EXISTS';
      if (options.create !== 'unless-exists' || !exists || bodyStarted) throw error;
      return await session(false);
    }
  } catch (error) {
    if (interruption.isInterruption(error)) {
      // After a closed stdout, say nothing: the reader left on purpose.
      if (interruption.exitCode !== exitCodes.brokenPipe) reporter.fatal(error);
      return interruption.exitCode ?? exitCodes.interrupted;
    }
    reporter.fatal(error);
    if (exitCodeOf(error) === exitCodes.noRepository && options.place.defaultKeyFile !== null) {
      reporter.note('hint', { repository: options.place.location }, 'holdfast: no repository is configured and the default one is not made yet: "holdfast backup DIR" makes it; or give --repo DIR or HOLDFAST_REPOSITORY');
    }
    return exitCodeOf(error);
  } finally {
    uninstall();
    recorder.close();
  }
}

function lockOptions(values: RepositoryValues, mode: LockMode | 'none', reporter: Reporter): LockOptions | null {
  if (mode === 'none') return null;
  // What the lock says its holder is doing, for the message another process shows.
  const operation = `holdfast ${process.argv.slice(2).join(' ')}`.slice(0, 200);
  const retry = values['retry-lock'];
  return { mode, operation, retryMs: retry === undefined ? 0 : parseDuration(retry, '--retry-lock'), onNote: (message) => reporter.note('lock', { message }, `holdfast: ${message}`) };
}

/** "90s", "5m", "2h", "1d" or plain seconds, in milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) throw new UsageError(`${option} takes a duration such as 30s, 5m or 1h, not "${text}"`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unitMs;
}

export function exitCodeOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'HOLDFAST_LOCKED' || code === 'HOLDFAST_LOCK_LOST') return exitCodes.lockFailed;
  if (code === 'HOLDFAST_NO_REPOSITORY') return exitCodes.noRepository;
  if (code === 'HOLDFAST_WRONG_PASSWORD') return exitCodes.wrongPassword;
  return exitCodes.fatal;
}
