/**
 * What every repository verb shares: where the repository is, its password, tracing, and the
 * exit codes of DESIGN.md §3.
 *
 * Where: --repo, else HOLDFAST_REPOSITORY, else the embedded default — a repository in the XDG
 * data directory ($XDG_DATA_HOME/holdfast/repository, ~/.local/share by default) whose password
 * is a generated key file beside it (repository.key, mode 0600). `backup` and `init` create the
 * default on first use and say where both are, once; other verbs expect it to exist.
 *
 * Password: --password-file, else HOLDFAST_PASSWORD_FILE, else HOLDFAST_PASSWORD, else the
 * default's key file, else a prompt on a terminal.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { installFlightRecorderDumps, TraceRecorder, withRepository, type LockMode, type LockOptions, type RepositorySession } from '../api/index.js';
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
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const repositoryOptionsUsage = `Repository options (every repository verb):
  -r, --repo DIR         the repository (default: HOLDFAST_REPOSITORY, else the embedded default
                         in $XDG_DATA_HOME/holdfast/repository)
  --password-file FILE   read the password from FILE (also HOLDFAST_PASSWORD_FILE, HOLDFAST_PASSWORD)
  --trace FILE           write a Chrome trace-event file of every pooled job (opens in Perfetto)
  --retry-lock DURATION  wait up to DURATION (30s, 5m, 1h) for a conflicting lock to go
                         (default: fail at once with exit code 11)
  --json                 JSON lines on stdout
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
  json: boolean;
}

export interface RepositoryPlace {
  location: string;
  /** Set for the embedded default: its key file. */
  defaultKeyFile: string | null;
}

export function defaultRepositoryPlace(): { location: string; keyFile: string } {
  const dataHome = process.env['XDG_DATA_HOME'] ?? join(homedir(), '.local', 'share');
  const directory = join(dataHome, 'holdfast');
  return { location: join(directory, 'repository'), keyFile: join(directory, 'repository.key') };
}

export function cacheDirectory(): string {
  return join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'holdfast');
}

export function repositoryPlace(values: RepositoryValues): RepositoryPlace {
  const named = values.repo ?? process.env['HOLDFAST_REPOSITORY'];
  if (named !== undefined && named !== '') return { location: resolve(named), defaultKeyFile: null };
  const place = defaultRepositoryPlace();
  return { location: place.location, defaultKeyFile: place.keyFile };
}

/** The password from a file, the environment, the default's key file or a prompt. */
export async function readPassword(values: RepositoryValues, place: RepositoryPlace, purpose: string): Promise<Buffer> {
  const file = values['password-file'] ?? process.env['HOLDFAST_PASSWORD_FILE'];
  if (file !== undefined && file !== '') return Buffer.from(readFileSync(file, 'utf8').replace(/\r?\n$/, ''), 'utf8');
  const given = process.env['HOLDFAST_PASSWORD'];
  if (given !== undefined) return Buffer.from(given, 'utf8');
  if (place.defaultKeyFile !== null && existsSync(place.defaultKeyFile)) return readFileSync(place.defaultKeyFile);
  if (process.stdin.isTTY) return readPasswordFromTerminal(`Password for ${purpose}: `);
  throw new UsageError(`no password: set HOLDFAST_PASSWORD or HOLDFAST_PASSWORD_FILE, or give --password-file`);
}

/**
 * Makes the embedded default's key file (mode 0600, directory 0700) when neither it nor the
 * repository exists; returns true when it did. The caller then creates the repository.
 */
export function prepareDefaultRepository(place: RepositoryPlace): boolean {
  if (place.defaultKeyFile === null || existsSync(join(place.location, 'config'))) return false;
  mkdirSync(join(place.defaultKeyFile, '..'), { recursive: true, mode: 0o700 });
  if (!existsSync(place.defaultKeyFile)) writeFileSync(place.defaultKeyFile, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  return true;
}

export function keyOwner(): { hostname: string; username: string } {
  return { hostname: hostname(), username: userInfo().username };
}

/**
 * Runs a verb's body in a repository session with tracing: --trace FILE records every event;
 * SIGUSR2 dumps the flight recorder beside the cache without stopping. Maps the errors of
 * opening a repository to their exit codes.
 */
export async function runInRepository(
  values: RepositoryValues,
  reporter: Reporter,
  options: { place: RepositoryPlace; password: Buffer; create?: boolean; loadIndex?: boolean; lock?: LockMode | 'none' },
  body: (session: RepositorySession) => Promise<number>,
): Promise<number> {
  const recorder = new TraceRecorder();
  if (values.trace !== undefined) recorder.recordToFile(values.trace);
  const uninstall = installFlightRecorderDumps(recorder, cacheDirectory(), (line) => process.stderr.write(`holdfast: ${line}\n`));
  try {
    // SIGINT or a closed stdout aborts the session's signal (interruption.ts): the verb stops at
    // a safe point, the workers finish their jobs, the lock is released, then the process exits.
    return await interruption.orderly(() =>
      withRepository(
        {
          location: options.place.location,
          password: options.password,
          recorder,
          ...(options.create === true ? { create: keyOwner() } : {}),
          ...(options.loadIndex === false ? { loadIndex: false } : {}),
          lock: lockOptions(values, options.lock ?? 'shared', reporter),
          signal: interruption.signal,
        },
        (session) => {
          // Another key opened it; the user should still hear that a key file is damaged.
          for (const error of session.repository.damagedKeys) reporter.problem('warning', error.path, error);
          return body(session);
        },
      ),
    );
  } catch (error) {
    if (interruption.isInterruption(error)) {
      // After a closed stdout, say nothing: the reader left on purpose.
      if (interruption.exitCode !== exitCodes.brokenPipe) reporter.fatal(error);
      return interruption.exitCode ?? exitCodes.interrupted;
    }
    reporter.fatal(error);
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
