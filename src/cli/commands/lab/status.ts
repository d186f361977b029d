/** `starling lab status [--json]`: routers and sessions, PoP announce states, certificates, the catchment now. */
import { labStatus, type LabCertificate, type LabStatus } from '../../../lab/index.js';
import { catchmentTable } from './up.js';
import { asLabUser, duration, labFromOpts } from './common.js';
import { printJson, table } from '../../output.js';
import { implement } from '../../kit/index.js';
import { labStatusCmd } from './meta.js';

export const runLabStatusCmd = implement(labStatusCmd, (opts) =>
  asLabUser(opts, async () => {
    const s = await labStatus(labFromOpts(opts));
    if (opts.json) printJson(s);
    else console.log(describeStatus(s));
    return 0;
  }),
);

export function describeStatus(s: LabStatus): string {
  const up = s.upMs === null ? '' : `, built in ${duration(s.upMs)}`;
  const out = [`lab ${s.lab}: topology ${s.topology}, up since ${s.createdAt}${up}; state in ${s.dir}`];
  out.push(`control plane: ${s.control.url} in ${s.control.ns}: ${s.control.running ? 'running' : 'NOT RUNNING'}`);
  out.push(`CA: pebble at ${s.ca.directoryUrl}: ${s.ca.running ? 'running' : 'NOT RUNNING'}; its root (trust it for https) in ${s.ca.root}`);
  out.push(`demo app: http://${s.serviceAddress}/ and https://${s.app}/ (at ${s.serviceAddress}, and at ${s.serviceAddress6} with -6) with Host ${s.app}`, '', 'routers (BIRD, control socket routers/<city>/bird.ctl):');
  const via = (pop: string | null, path: number[]): string => (pop ? `${pop} (path ${path.join(' ')})` : 'no route');
  // A session per family: `cdg Established` when both are, else each family's state.
  const sessions = (r: LabStatus['routers'][number]): string => {
    const peers = [...new Set(r.sessions.map((x) => x.peer))];
    return peers.map((p) => {
      const [v4, v6] = [4, 6].map((f) => r.sessions.find((x) => x.peer === p && x.family === f)?.state ?? 'missing');
      return v4 === v6 ? `${p} ${v4}` : `${p} ${v4}/IPv6 ${v6}`;
    }).join(', ');
  };
  out.push(
    table([
      ['city', 'BIRD', 'sessions (IPv4 and IPv6)', 'anycast via', 'IPv6 anycast via'],
      ...s.routers.map((r) => [r.city, r.running && r.up ? 'up' : 'DOWN', sessions(r) || (r.error ?? ''), via(r.pop, r.asPath), via(r.pop6, r.asPath6)]),
    ]),
  );
  out.push('', 'PoP hosts:');
  out.push(
    table([
      ['host', 'address', 'agent', 'BIRD', 'announce', 'failed'],
      ...s.pops.map((p) => [p.id, p.address, p.agent ? 'running' : 'stopped', p.bird ? 'running' : 'stopped', p.announce, p.failure ?? '-']),
    ]),
  );
  out.push('', 'certificates (from the control plane):');
  if (s.certificatesError !== null) out.push(`  cannot ask the control plane: ${s.certificatesError}`);
  else if (s.certificates.length === 0) out.push('  none');
  else out.push(certificateTable(s.certificates));
  if (s.catchment.length > 0) {
    const down = s.down.length > 0 ? ` (expected with ${s.down.join(', ')} down)` : '';
    out.push('', `catchment now, by HTTP from each client city${down}:`, catchmentTable(s.catchment));
  }
  return out.join('\n');
}

/** hostname, app, state, issuer, expiry (with days left), the challenge that passed; a reason under a name that is not ready. */
export function certificateTable(certs: LabCertificate[], now = Date.now()): string {
  const rows = [['hostname', 'app', 'state', 'issuer', 'expires', 'challenge']];
  for (const c of certs) {
    const days = c.notAfter === null ? '' : ` (${Math.floor((Date.parse(c.notAfter) - now) / 86_400_000)} days)`;
    rows.push([c.hostname, c.app ?? '-', c.state, c.issuer ?? '-', c.notAfter === null ? '-' : `${c.notAfter}${days}`, c.challenge ?? c.source ?? '-']);
  }
  const reasons = certs.filter((c) => c.reason !== null).map((c) => `  ${c.hostname}: ${c.reason}`);
  return [table(rows), ...reasons].join('\n');
}
