/** What every `starling lab …` command shares: `--name`, running inside the user's holder, printing. */
import { DEFAULT_LAB, holderHasLab, openLab, rerunInHolder, runsDirectly, stopHolder, assertLabId, type LabContext } from '../../../lab/index.js';
import { stderrLogger } from '../../../shared/index.js';
import { usageError } from '../../kit/index.js';

/** What every lab command is given (`--name`, its default in meta.ts). */
type LabOpts = { name: string };

export function labName(opts: LabOpts): string {
  const { name } = opts;
  try {
    assertLabId(name);
  } catch (e) {
    throw usageError(`--name: ${(e as Error).message}`);
  }
  return name;
}

/**
 * Runs `body` here when this process may make namespaces (root, or inside the lab's holder);
 * otherwise re-runs the whole command inside the holder of the lab and returns its exit status.
 */
export async function asLabUser(opts: LabOpts, body: () => Promise<number>, o: { start?: boolean } = {}): Promise<number> {
  if (runsDirectly()) return body();
  const name = labName(opts);
  const code = await rerunInHolder(name, { start: o.start ?? false });
  // A `lab up` that failed took its lab down inside the holder: the holder itself goes too.
  if (o.start && code !== 0 && !(await holderHasLab(name))) await stopHolder(name);
  return code;
}

/** The running lab named by --name, with a logger for the lab's structured logs (stderr, warnings up). */
export function labFromOpts(opts: LabOpts): LabContext {
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
