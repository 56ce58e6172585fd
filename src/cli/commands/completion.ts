/**
 * `kubekv completion bash|zsh`: writes the shell completion script
 * (completion.ts) to stdout. No request, no Kubernetes client.
 *
 * @module
 */
import { InvalidOptionError } from '../../errors.js';
import type { Command } from '../command.js';
import { bashCompletion, completionShells, zshCompletion, type CompletionShell } from '../completion.js';

/** `kubekv completion <shell>`, completing the commands `commands()` returns (the registry, which includes this one). */
export function completionCommand(commands: () => readonly Command[]): Command {
  return {
    name: 'completion',
    options: [],
    positionals: ['shell'],
    summary: 'print a shell completion script (bash or zsh): source <(kubekv completion bash)',
    details: [
      'bash: source <(kubekv completion bash), or save it as ~/.local/share/bash-completion/completions/kubekv.',
      'zsh:  source <(kubekv completion zsh) in ~/.zshrc.',
      'Both complete commands, options and -o formats for kubekv and kubectl-kv.',
    ].join('\n'),
    async run(ctx) {
      const shell = ctx.positionals[0]!;
      if (!(completionShells as readonly string[]).includes(shell)) {
        throw new InvalidOptionError('shell', shell, `one of ${completionShells.join(', ')}`);
      }
      await ctx.out((shell as CompletionShell) === 'bash' ? bashCompletion(commands()) : zshCompletion(commands()));
    },
  };
}
