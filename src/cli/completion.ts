/**
 * Shell completion scripts for `kubekv completion bash|zsh`, generated from
 * the command table and the option table, so they cannot fall behind the
 * parser. They complete command names (aliases too), the options a command
 * takes (global ones included), `-o` formats, files after `--kubeconfig`
 * and the shells of `completion`. Values that need the cluster (bucket,
 * key and namespace names) are not completed: a completion must answer at
 * once, and a request would need credentials and a round trip per Tab.
 *
 * zsh runs the bash function through bashcompinit, as kubectl's own zsh
 * script did for years; it is part of every zsh since 4.3.
 *
 * @module
 */
import { globalOptions, optionTable, outputFormats, type OptionName } from './args.js';
import type { Command } from './command.js';

/** The shells `kubekv completion` writes a script for. */
export const completionShells = ['bash', 'zsh'] as const;
/** One of {@link completionShells}. */
export type CompletionShell = (typeof completionShells)[number];

/** How each option is written on the command line: `--name`, and `-x` when it has a short form. */
function spellings(option: OptionName): string[] {
  const spec = optionTable[option];
  return [`--${option}`, ...('short' in spec ? [`-${spec.short}`] : [])];
}

/** Options that take a value (their next word is not a command). */
function valueOptions(): string[] {
  return (Object.keys(optionTable) as OptionName[]).filter((o) => optionTable[o].type === 'string').flatMap(spellings);
}

/** Single-quotes a word for a shell script. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The bash completion function `_kubekv`, registered for `kubekv` and `kubectl-kv`. */
export function bashCompletion(commands: readonly Command[]): string {
  const names = [...commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]), 'help'];
  const cases = commands.map((c) => {
    const words = [...new Set([...c.options, ...globalOptions].flatMap(spellings))].sort();
    return `    ${[c.name, ...(c.aliases ?? [])].map(quote).join('|')}) opts=${quote(words.join(' '))} ;;`;
  });
  return `# kubekv completion for bash. Load it in this shell:   source <(kubekv completion bash)
# or for every shell:   kubekv completion bash > ~/.local/share/bash-completion/completions/kubekv
_kubekv() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" i word skip=0
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$word" in
      ${valueOptions().map(quote).join('|')}) skip=1 ;;
      -*) ;;
      *) cmd="$word"; break ;;
    esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W ${quote(outputFormats.join(' '))} -- "$cur") ); return ;;
    --kubeconfig) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    ${valueOptions().filter((o) => !['-o', '--output', '--kubeconfig'].includes(o)).map(quote).join('|')}) COMPREPLY=(); return ;;
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=( $(compgen -W ${quote(globalOptions.flatMap(spellings).join(' '))} -- "$cur") )
    else
      COMPREPLY=( $(compgen -W ${quote(names.join(' '))} -- "$cur") )
    fi
    return
  fi
  local opts=""
  case "$cmd" in
    help) [[ "$cur" != -* ]] && { COMPREPLY=( $(compgen -W ${quote(commands.map((c) => c.name).join(' '))} -- "$cur") ); return; } ;;
    completion) [[ "$cur" != -* ]] && { COMPREPLY=( $(compgen -W ${quote(completionShells.join(' '))} -- "$cur") ); return; } ;;
  esac
  case "$cmd" in
${cases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=(); fi
}
complete -o default -F _kubekv kubekv kubectl-kv
`;
}

/** The zsh script: the bash function through bashcompinit. */
export function zshCompletion(commands: readonly Command[]): string {
  return `#compdef kubekv kubectl-kv
# kubekv completion for zsh. Load it in this shell:   source <(kubekv completion zsh)
(( $+functions[compdef] )) || { autoload -U +X compinit && compinit }
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(commands).split('\n').filter((line) => !line.startsWith('# ')).join('\n')}`;
}
