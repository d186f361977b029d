/** What every `starling lab …` command shares: `--name`, running inside the user's holder, printing. */
import { DEFAULT_LAB, holderHasLab, openLab, rerunInHolder, runsDirectly, stopHolder, assertLabId, type LabContext } from '../../../lab/index.js';
import { StarlingError, stderrLogger } from '../../../shared/index.js';
import type { OptionSpec } from '../../args.js';

export const nameOption: Record<string, OptionSpec> = {
  name: { type: 'string', value: 'LAB', description: 'which lab: 1-8 of a-z and 0-9; it prefixes every namespace', default: DEFAULT_LAB },
};

export function labName(opts: Record<string, unknown>): string {
  const name = typeof opts.name === 'string' ? opts.name : DEFAULT_LAB;
  try {
    assertLabId(name);
  } catch (e) {
    throw new StarlingError('ERR_USAGE', `--name: ${(e as Error).message}`, { fault: 'user' });
  }
  return name;
}

/**
 * Runs `body` here when this process may make namespaces (root, or inside the lab's holder);
 * otherwise re-runs the whole command inside the holder of the lab and returns its exit status.
 */
export async function asLabUser(opts: Record<string, unknown>, body: () => Promise<number>, o: { start?: boolean } = {}): Promise<number> {
  if (runsDirectly()) return body();
  const name = labName(opts);
  const code = await rerunInHolder(name, { start: o.start ?? false });
  // A `lab up` that failed took its lab down inside the holder: the holder itself goes too.
  if (o.start && code !== 0 && !(await holderHasLab(name))) await stopHolder(name);
  return code;
}

/** The running lab named by --name, with a logger for the lab's structured logs (stderr, warnings up). */
export function labFromOpts(opts: Record<string, unknown>): LabContext {
  return openLab(labName(opts), { logger: stderrLogger('warn').child({ component: 'lab' }) });
}

/** 850 → "850 ms", 12345 → "12.3 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `--name X` for the hints printed after a command, empty for the default lab. */
export function nameFlag(name: string): string {
  return name === DEFAULT_LAB ? '' : ` --name ${name}`;
}
