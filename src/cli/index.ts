export { COMMANDS, GROUPS, NOUNS, TREE, dispatch, findCommand, mainHelp } from './tree.js';
export { commandHelp, nounHelp, parseHostPort, type AnyCommand, type CommandMeta, type Option } from './kit/index.js';
