/** The CLI kit: typed commands declared apart from the modules that run them, help, dispatch. */
export { defineCommand, implement, loadImplementation, commandName, argKey, isOptionalArg, type AnyCommand, type CommandMeta, type Implementation, type OptsOf } from './define.js';
export { boolean, custom, duration, hostPort, list, number, oneOf, orList, parseDurationMs, parseHostPort, string, usageError, type AnyOption, type Option, type Options, type OptionValues } from './options.js';
export { completeOptions, flagLabel, parseOptions } from './parse.js';
export { commandHelp, commandsOf, mainHelp, nounHelp, usageLine, type CommandTree, type NounMeta } from './help.js';
export { dispatch, findCommand, packageVersion } from './dispatch.js';
