/** `starling completion SHELL`: what the command table knows of it (completion.ts runs it). */
import { defineCommand } from '../../kit/index.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

export const completion = defineCommand({
  noun: 'completion',
  verb: '',
  args: ['SHELL'],
  summary: 'print a completion script for bash, zsh or fish (nouns, verbs and flags)',
  options: {},
  load: () => import('./completion.js'),
});
