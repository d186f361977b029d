/** `starling lab up`: builds the lab, deploys the demo app, measures the catchment and prints it. */
import { getPreset, labUp, loadTopology, type CatchmentRow, type LabStep } from '../../../lab/index.js';
import { describeError, stderrLogger } from '../../../shared/index.js';
import { implement, usageError, type OptsOf } from '../../kit/index.js';
import { table } from '../../output.js';
import { saveLabAccess } from '../../lab-target.js';
import { asLabUser, duration, labName, nameFlag } from './common.js';
import { DEFAULT_LAB_NAME, labUpCmd } from './meta.js';
import { ownAppHint } from './use.js';

export const runLabUpCmd = implement(labUpCmd, (opts) => asLabUser(opts, () => up(opts), { start: true }));

async function up(opts: OptsOf<typeof labUpCmd>): Promise<number> {
  const name = labName(opts);
  if (opts.preset !== undefined && opts.topology !== undefined) throw usageError('give --preset or --topology, not both');
  const topology = opts.topology !== undefined ? await loadTopology(opts.topology) : getPreset(opts.preset ?? 'default');
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
  // For --lab / lab use from the host (HOME is the same inside a normal user's holder). The lab
  // works without it; lab use writes it again.
  try {
    saveLabAccess(report.access);
  } catch (e) {
    console.error(`warning: cannot keep how to reach this lab's control plane (--lab, lab use): ${describeError(e)}`);
  }
  console.log(`lab up in ${duration(report.ms)}; state in ${report.dir}\n`);
  console.log(catchmentTable(report.catchment));
  const bad = report.catchment.filter((r) => !r.ok);
  const n = nameFlag(name);
  console.log('');
  if (bad.length > 0) console.log(`${bad.length} cities did not reach their expected PoP: see starling lab status${n}`);
  const city = report.clientCities[0] ?? 'CITY';
  console.log(`explore:   starling lab status${n}   starling lab curl ${city} http://${report.serviceAddress}/${n}   starling lab exec ${city}${n} -- ip route`);
  console.log(`https:     starling lab curl ${city} https://demo.starling.test/ --http2 --include${n}   (Pebble's root, to trust: ${report.root})`);
  console.log(`fail over: starling lab failover ${report.popHosts[0] ?? 'POP'} --mode graceful${n}`);
  console.log(`take down: starling lab down${n}`);
  console.log(`\nyour own app: starling lab use${name === DEFAULT_LAB_NAME ? '' : ` ${name}`} sends deploy, status, logs, … to this lab's control plane (or add --lab ${name} to one command); then`);
  console.log(ownAppHint(name, report.popRegions[0] ?? 'lhr', city).split('\n').slice(1).join('\n'));
  return bad.length > 0 ? 1 : 0;
}

export function stepLine(s: LabStep): string {
  return `  ✓ ${s.name.padEnd(14)} ${s.detail.padEnd(72)} ${duration(s.ms).padStart(8)}`;
}

/** city → PoP that answered over IPv4, over IPv6 → expected PoP, ✓ (both families there) or ✗. */
export function catchmentTable(rows: CatchmentRow[]): string {
  // measureCatchment prefixes an IPv6 request's error with "IPv6: ".
  const none = (r: CatchmentRow, v6: boolean): string => {
    const mine = r.error !== undefined && r.error.startsWith('IPv6: ') === v6 ? r.error.replace(/^IPv6: /, '') : undefined;
    return `none (${mine ?? 'no answer'})`;
  };
  return table([
    ['city', 'answered by', 'over IPv6', 'machine', 'expected', ''],
    ...rows.map((r) => [r.city, r.measured ?? none(r, false), r.measured6 ?? none(r, true), r.machine ? `${r.machine} (${r.region ?? '?'})` : '-', r.expected ?? 'none', r.ok ? '✓' : '✗']),
  ]);
}
