/** `starling lab up`: builds the lab, deploys the demo app, measures the catchment and prints it. */
import { getPreset, labUp, loadTopology, type CatchmentRow, type LabStep } from '../../../lab/index.js';
import { StarlingError, stderrLogger } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { asLabUser, duration, labName, nameFlag, nameOption } from './common.js';
import { table } from '../../output.js';

export const labUpCmd: Command = {
  noun: 'lab',
  verb: 'up',
  summary: 'build the lab: routers, control plane, one agent per PoP host, the demo app; then measure the catchment',
  options: {
    preset: { type: 'string', value: 'NAME', description: 'a built-in topology: default (5 cities, 3 PoPs) or us (default: default)' },
    topology: { type: 'string', value: 'FILE', description: 'a topology file instead of a preset (TOML, or JSON ending in .json; docs/lab-topology.md)' },
    ...nameOption,
  },
  run: (opts) => asLabUser(opts, () => up(opts), { start: true }),
};

async function up(opts: Record<string, string | boolean | undefined>): Promise<number> {
  const name = labName(opts);
  if (typeof opts.preset === 'string' && typeof opts.topology === 'string') {
    throw new StarlingError('ERR_USAGE', 'give --preset or --topology, not both', { fault: 'user' });
  }
  const topology = typeof opts.topology === 'string' ? await loadTopology(opts.topology) : getPreset(typeof opts.preset === 'string' ? opts.preset : 'default');
  const tty = process.stdout.isTTY === true;
  console.log(`starling lab up: lab "${name}", topology ${topology.name}`);
  // Ctrl-C: finish the running step, then take down what was made (a second Ctrl-C leaves it to lab down).
  const abort = new AbortController();
  const onSigint = (): void => {
    if (abort.signal.aborted) process.exit(130);
    console.error(`\ninterrupted: taking lab ${name} down after the running step (Ctrl-C again to leave it to starling lab down${nameFlag(name)})`);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const report = await labUp({
    name,
    topology,
    signal: abort.signal,
    logger: stderrLogger('warn').child({ component: 'lab' }),
    onStart: (step) => void (tty ? process.stdout.write(`  … ${step}`) : undefined),
    onStep: (s) => console.log(`${tty ? '\r\x1b[K' : ''}${stepLine(s)}`),
  });
  process.off('SIGINT', onSigint);
  console.log(`lab up in ${duration(report.ms)}; state in ${report.dir}\n`);
  console.log(catchmentTable(report.catchment));
  const bad = report.catchment.filter((r) => !r.ok);
  const n = nameFlag(name);
  console.log('');
  if (bad.length > 0) console.log(`${bad.length} cities did not reach their expected PoP: see starling lab status${n}`);
  const city = report.clientCities[0] ?? 'CITY';
  console.log(`explore:   starling lab status${n}   starling lab curl ${city} http://${report.serviceAddress}/${n}   starling lab exec ${city}${n} -- ip route`);
  console.log(`fail over: starling lab failover ${report.popHosts[0] ?? 'POP'} --mode graceful${n}`);
  console.log(`take down: starling lab down${n}`);
  return bad.length > 0 ? 1 : 0;
}

export function stepLine(s: LabStep): string {
  return `  ✓ ${s.name.padEnd(14)} ${s.detail.padEnd(72)} ${duration(s.ms).padStart(8)}`;
}

/** city → PoP that answered → expected PoP, ✓ or ✗. */
export function catchmentTable(rows: CatchmentRow[]): string {
  return table([
    ['city', 'answered by', 'machine', 'expected', ''],
    ...rows.map((r) => [r.city, r.measured ?? `none (${r.error ?? 'no answer'})`, r.machine ? `${r.machine} (${r.region ?? '?'})` : '-', r.expected ?? 'none', r.ok ? '✓' : '✗']),
  ]);
}
