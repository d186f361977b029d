/**
 * `starling completion bash|zsh|fish`: prints a completion script made from the command table, so
 * it knows every command and flag of this version (regenerate it after an upgrade).
 */
import { TREE } from '../../tree.js';
import { implement, orList, usageError } from '../../kit/index.js';
import { bashScript } from './bash.js';
import { fishScript } from './fish.js';
import { completionModel } from './model.js';
import { SHELLS, completion } from './meta.js';
import { zshScript } from './zsh.js';

export const runCompletion = implement(completion, async (opts) => {
  const model = completionModel(TREE);
  const scripts = { bash: bashScript, zsh: zshScript, fish: fishScript };
  const shell = SHELLS.find((s) => s === opts.shell);
  if (shell === undefined) throw usageError(`SHELL must be ${orList(SHELLS)}, got "${opts.shell}"`, 'starling completion bash (or zsh, or fish)');
  process.stdout.write(scripts[shell](model));
  return 0;
});
