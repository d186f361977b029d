/** `starling lab fail POP --mode …` and `starling lab heal POP`. */
import { failPop, healPop } from '../../../lab/index.js';
import { implement } from '../../kit/index.js';
import { asLabUser, duration, labFromOpts, nameFlag } from './common.js';
import { labFailCmd, labHealCmd } from './meta.js';

export const runLabFailCmd = implement(labFailCmd, (opts) =>
  asLabUser(opts, async () => {
    const ctx = labFromOpts(opts);
    for (const line of await failPop(ctx, opts.pop, opts.mode)) console.log(line);
    console.log(`see where the cities go: starling lab status${nameFlag(ctx.name)}; undo: starling lab heal ${opts.pop}${nameFlag(ctx.name)}`);
    return 0;
  }),
);

export const runLabHealCmd = implement(labHealCmd, (opts) =>
  asLabUser(opts, async () => {
    const ctx = labFromOpts(opts);
    const t0 = ctx.clock.monotonic();
    for (const line of await healPop(ctx, opts.pop)) console.log(line);
    console.log(`healed in ${duration(ctx.clock.monotonic() - t0)}: every router routes as expected again`);
    return 0;
  }),
);
