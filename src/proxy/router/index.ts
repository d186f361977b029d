export { chooseMachine, type ChooseRequest, type Choice, type NoneReason } from './choose.js';
export { parseReplay, formatReplaySrc, type ReplayDirective, type ReplayParse } from './replay.js';
