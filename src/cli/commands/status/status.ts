/** `starling status --app APP`: the deployed release, each machine's placement and state, the latest deploy. */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import type { StatusJson } from '../deploy/follow.js';
import { status } from './meta.js';

export const runStatus = implement(status, async (opts) => {
  const { app } = opts;
  const s = await callControl<StatusJson>(resolveControl(opts), 'GET', appPath(app, '/status'));
  if (opts.json) {
    printJson(s);
    return 0;
  }
  console.log(formatStatus(s));
  return 0;
});

/** A machine's process group; `-` for a release command's machine (it is in none). */
export function groupColumn(m: { process_group?: string; role?: string }): string {
  return m.role !== undefined ? '-' : (m.process_group ?? 'app');
}

export function formatStatus(s: StatusJson): string {
  const deployed = s.app.deployed_release ?? 0;
  const lines = [
    `app ${s.app.name}  primary region ${s.app.primary_region}`,
    `release: ${deployed === 0 ? 'none deployed' : `v${deployed} deployed`}${s.app.release_version > deployed ? ` (latest v${s.app.release_version})` : ''}`,
  ];
  if (s.deploy) {
    const d = s.deploy;
    lines.push(`deploy ${d.id}: ${d.strategy} v${d.from_release} → v${d.release}, ${d.state}${d.error ? ` (${d.error})` : ''}`);
  }
  lines.push('');
  if (s.machines.length === 0) lines.push('no machines; starling scale count N --app APP places some');
  else {
    // LAST EVENT says why a machine is as it is: "exit 1", "autostopped: excess capacity in fra".
    const rows = [['ID', 'GROUP', 'REGION', 'HOST', 'RELEASE', 'STATE', 'CHECKS', 'LAST EVENT']];
    for (const m of [...s.machines].sort((a, b) => groupColumn(a).localeCompare(groupColumn(b)) || a.region.localeCompare(b.region) || a.id.localeCompare(b.id))) {
      const event = m.last_event ? `${m.last_event.at.slice(11, 19)} ${m.last_event.message.slice(0, 60)}` : '-';
      // A deploy's release command machine has no checks; it is shown for what it is.
      const checks = m.role === 'release_command' ? 'release command' : m.healthy ? 'passing' : m.state === 'started' ? 'not passing' : '-';
      rows.push([m.id, groupColumn(m), m.region, m.host, `v${m.release}`, m.state, checks, event]);
    }
    lines.push(table(rows));
  }
  return lines.join('\n');
}
