export { COMMANDS, NOUNS, TREE, dispatch, findCommand, mainHelp } from './tree.js';
export { commandHelp, nounHelp, type AnyCommand, type CommandMeta, type Option } from './kit/index.js';
export { parseHostPort, type Command, type OptionSpec } from './args.js';
