#!/usr/bin/env node
import { isStarlingError } from '../shared/index.js';
import { commandHelp, parseOptions } from './args.js';
import { findCommand, mainHelp } from './tree.js';

async function main(argv: string[]): Promise<number> {
  const [noun, verb] = argv;
  if (noun === undefined || noun === '--help' || noun === '-h' || noun === 'help') {
    console.log(mainHelp());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    console.error(`error: unknown command "${[noun, verb].filter(Boolean).join(' ')}"\n\n${mainHelp()}`);
    return 2;
  }
  const { cmd, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(cmd));
    return 0;
  }
  return cmd.run(parseOptions(cmd, rest));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isStarlingError(err)) {
      console.error(`error: ${err.message}`);
      if (err.hint) console.error(`hint: ${err.hint}`);
      process.exitCode = err.fault === 'user' ? 2 : 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
