export { COMMANDS, findCommand, mainHelp } from './tree.js';
export { commandHelp, parseHostPort, type Command, type OptionSpec } from './args.js';
