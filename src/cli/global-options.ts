/**
 * Options a user may give before the verb, as in restic ("holdfast -r /srv/repo snapshots"):
 * -r/--repo, --password-file, --trace, --retry-lock (each with a value, also as --repo=X or
 * -rX), --json and -q/--quiet. main() takes them off the front and hands them to the verb after
 * its own arguments (before a "--" that ends its options), so each verb parses them as its own
 * and one that has no such option says so.
 */

/** Global options that take a value, by every spelling; the value follows or comes after "=". */
const valueOptions = new Set(['-r', '--repo', '--password-file', '--trace', '--retry-lock']);
const flagOptions = new Set(['--json', '-q', '--quiet']);

export interface LeadingOptions {
  /** The global options found before the verb, each with its value, as given. */
  options: string[];
  /** The verb and what follows it. */
  rest: string[];
}

/** Splits the global options off the front of argv; throws on one that lacks its value. */
export function leadingGlobalOptions(argv: readonly string[]): LeadingOptions {
  const options: string[] = [];
  let index = 0;
  while (index < argv.length) {
    const argument = argv[index]!;
    const name = argument.startsWith('--') ? argument.split('=', 1)[0]! : argument.slice(0, 2);
    if (flagOptions.has(argument)) {
      options.push(argument);
      index++;
    } else if (valueOptions.has(name) && argument !== name) {
      options.push(argument); // --repo=X or -rX
      index++;
    } else if (valueOptions.has(argument)) {
      const value = argv[index + 1];
      if (value === undefined) throw new Error(`option "${argument}" needs a value; see "holdfast --help"`);
      options.push(argument, value);
      index += 2;
    } else {
      break;
    }
  }
  return { options, rest: argv.slice(index) };
}

/** The verb's arguments with the global options added after its own, before any "--". */
export function withGlobalOptions(verbArguments: readonly string[], options: readonly string[]): string[] {
  const end = verbArguments.indexOf('--');
  if (end === -1) return [...verbArguments, ...options];
  return [...verbArguments.slice(0, end), ...options, ...verbArguments.slice(end)];
}

/**
 * A parseArgs error in the project's voice. Node's text for an unknown option ends in an
 * unbalanced quote ("as in '-- "--foo"") and is rewritten; the others are kept.
 */
export function parseErrorMessage(error: Error): string {
  const unknown = /^Unknown option '([^']*)'/.exec(error.message);
  if ((error as { code?: string }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || unknown === null) return error.message;
  const option = unknown[1]!;
  return `unknown option "${option}" (an argument that starts with "-" goes after "--", as in: -- ${option})`;
}
