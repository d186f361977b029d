/** `starling lab fail POP --mode …` and `starling lab heal POP`. */
import { assertFailMode, failPop, healPop } from '../../../lab/index.js';
import { StarlingError } from '../../../shared/index.js';
import type { Command, OptionSpec } from '../../args.js';
import { asLabUser, duration, labFromOpts, nameFlag, nameOption } from './common.js';

export const modeOption: Record<string, OptionSpec> = {
  mode: { type: 'string', value: 'MODE', description: 'crash (SIGKILL the agent and its BIRD), silent (the link drops every frame; BFD notices) or graceful (agent drain)' },
};

export function modeFrom(opts: Record<string, unknown>): ReturnType<typeof assertFailMode> {
  if (typeof opts.mode !== 'string') throw new StarlingError('ERR_USAGE', '--mode is required: crash, silent or graceful', { fault: 'user' });
  return assertFailMode(opts.mode);
}

export const labFailCmd: Command = {
  noun: 'lab',
  verb: 'fail',
  args: ['POP'],
  summary: 'fail a PoP host (lhr1) or every host of a PoP (lhr): crash, silent or graceful',
  options: { ...modeOption, ...nameOption },
  run: (opts) =>
    asLabUser(opts, async () => {
      const mode = modeFrom(opts);
      const ctx = labFromOpts(opts);
      for (const line of await failPop(ctx, String(opts.pop), mode)) console.log(line);
      console.log(`see where the cities go: starling lab status${nameFlag(ctx.name)}; undo: starling lab heal ${String(opts.pop)}${nameFlag(ctx.name)}`);
      return 0;
    }),
};

export const labHealCmd: Command = {
  noun: 'lab',
  verb: 'heal',
  args: ['POP'],
  summary: 'undo lab fail: restart the agent, restore the link or undrain; wait until it announces again',
  options: { ...nameOption },
  run: (opts) =>
    asLabUser(opts, async () => {
      const ctx = labFromOpts(opts);
      const t0 = ctx.clock.monotonic();
      for (const line of await healPop(ctx, String(opts.pop))) console.log(line);
      console.log(`healed in ${duration(ctx.clock.monotonic() - t0)}: every router routes as expected again`);
      return 0;
    }),
};
