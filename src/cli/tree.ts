import type { Command } from './args.js';
import { proxyServe } from './commands/proxy/serve.js';
import { certsAdd } from './commands/certs/add.js';
import { certsImport } from './commands/certs/import.js';
import { certsList } from './commands/certs/list.js';
import { certsRemove } from './commands/certs/remove.js';
import { certsShow } from './commands/certs/show.js';

/** Every command, in help order. The README's CLI reference is checked against this table. */
export const COMMANDS: readonly Command[] = [proxyServe, certsAdd, certsImport, certsList, certsShow, certsRemove];

export function findCommand(noun: string | undefined, verb: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.noun === noun && (c.verb === verb || c.aliases?.includes(verb ?? '')));
}

export function mainHelp(): string {
  const lines = ['starling — a self-hostable anycast app platform', '', 'usage: starling <noun> <verb> [options]', ''];
  for (const c of COMMANDS) lines.push(`  starling ${`${c.noun} ${c.verb}`.padEnd(20)} ${c.summary}`);
  lines.push('', 'Run `starling <noun> <verb> --help` for the options of one command.');
  return lines.join('\n');
}
