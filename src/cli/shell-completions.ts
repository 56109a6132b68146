/**
 * Shell completions for bash, zsh and fish, generated from the verb catalog: the verbs (with
 * their summaries where the shell shows them), each verb's options, and file names elsewhere.
 * Global options before the verb (-r DIR) are skipped when finding which verb is being typed.
 */
import type { CatalogVerb } from './verb-catalog.js';

export type Shell = 'bash' | 'zsh' | 'fish';

/** Options that may stand before the verb and take a value (their value is not the verb). */
const globalValueOptions = ['-r', '--repo', '--password-file', '--trace', '--retry-lock'];

function optionWords(verb: CatalogVerb): string {
  return verb.options.flatMap((option) => (option.short === null ? [option.long] : [option.short, option.long])).join(' ');
}

/** A single-quoted shell word ('it'\''s'). */
function quoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function completionScript(shell: Shell, verbs: readonly CatalogVerb[]): string {
  if (shell === 'bash') return bashScript(verbs);
  if (shell === 'zsh') return zshScript(verbs);
  return fishScript(verbs);
}

function bashScript(verbs: readonly CatalogVerb[]): string {
  const cases = verbs.map((verb) => `    ${verb.name}) options=${quoted(optionWords(verb))} ;;`).join('\n');
  return `# bash completion for holdfast (made by "holdfast generate --bash-completion")
_holdfast() {
  local current=\${COMP_WORDS[COMP_CWORD]} verb="" options="" index
  for ((index = 1; index < COMP_CWORD; index++)); do
    case \${COMP_WORDS[index]} in
      ${globalValueOptions.join('|')}) ((index++)) ;;
      -*) ;;
      *) verb=\${COMP_WORDS[index]}; break ;;
    esac
  done
  if [[ -z $verb ]]; then
    COMPREPLY=($(compgen -W ${quoted(`${verbs.map((verb) => verb.name).join(' ')} --help --version`)} -- "$current"))
    return
  fi
  case $verb in
${cases}
  esac
  if [[ $current == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$current"))
  else
    COMPREPLY=($(compgen -f -- "$current"))
  fi
}
complete -o filenames -F _holdfast holdfast
`;
}

function zshScript(verbs: readonly CatalogVerb[]): string {
  const described = verbs.map((verb) => `    ${quoted(`${verb.name}:${verb.summary.replace(/:/g, '\\:')}`)}`).join('\n');
  const cases = verbs.map((verb) => `    ${verb.name}) options=(${optionWords(verb)}) ;;`).join('\n');
  return `#compdef holdfast
# zsh completion for holdfast (made by "holdfast generate --zsh-completion")
_holdfast() {
  local -a verbs options
  verbs=(
${described}
  )
  local verb="" index
  for ((index = 2; index < CURRENT; index++)); do
    case \${words[index]} in
      ${globalValueOptions.join('|')}) ((index++)) ;;
      -*) ;;
      *) verb=\${words[index]}; break ;;
    esac
  done
  if [[ -z $verb ]]; then
    _describe 'command' verbs
    return
  fi
  case $verb in
${cases}
  esac
  if [[ $PREFIX == -* ]]; then
    compadd -a options
  else
    _files
  fi
}
_holdfast "$@"
`;
}

function fishScript(verbs: readonly CatalogVerb[]): string {
  const lines = ['# fish completion for holdfast (made by "holdfast generate --fish-completion")', 'complete -c holdfast -f'];
  for (const verb of verbs) lines.push(`complete -c holdfast -n __fish_use_subcommand -a ${verb.name} -d ${quoted(verb.summary)}`);
  for (const verb of verbs) {
    for (const option of verb.options) {
      const short = option.short === null ? '' : ` -s ${option.short.slice(1)}`;
      lines.push(`complete -c holdfast -n ${quoted(`__fish_seen_subcommand_from ${verb.name}`)} -l ${option.long.slice(2)}${short}${option.takesValue ? ' -r -F' : ''}`);
    }
    lines.push(`complete -c holdfast -n ${quoted(`__fish_seen_subcommand_from ${verb.name}`)} -F`);
  }
  return `${lines.join('\n')}\n`;
}
