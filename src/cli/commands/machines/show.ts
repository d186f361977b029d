/**
 * `starling machines show ID`: one machine as the Machines API answers it — fly's machine object.
 * Through the control plane, with where it is placed, its release, health, desired state, cordon
 * and metadata; with `--local`, as this host's agent runs it. `--json` prints the object.
 */
import type { MachineView } from '../../../runtime/index.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { appOf, describeMachine, machinePath } from './common.js';
import { explained, machinesApi } from './api.js';
import { machinesShow } from './meta.js';

/** The control plane's machine object (GET /v1/apps/{app}/machines/{id}). */
export interface PlatformMachineJson {
  id: string;
  region: string;
  state: string;
  host: string;
  release: number;
  healthy: boolean;
  reported_at: string | null;
  desired_state: string;
  cordoned: boolean;
  image_ref: string;
  created_at: string;
  config: { cmd: string[]; env: Record<string, string>; internal_port: number; guest: { cpus: number; memory_mb: number }; secret_names: string[]; metadata?: Record<string, string> };
}

export const runMachinesShow = implement(machinesShow, async (opts) => {
  const app = appOf(opts);
  const api = await machinesApi(opts);
  const m = await api.call<PlatformMachineJson & MachineView>('GET', machinePath(app, opts.id)).catch((e: unknown) => {
    throw explained(e, app, opts.id);
  });
  if (opts.json) printJson(m);
  else console.log(api.local ? `machine ${m.id}\n${describeMachine(m)}` : formatPlatformMachine(m));
  return 0;
});

export function formatPlatformMachine(m: PlatformMachineJson): string {
  const c = m.config;
  const meta = Object.entries(c.metadata ?? {}).map(([k, v]) => `${k}=${v}`);
  const rows: string[][] = [
    ['state', `${m.state}${m.healthy ? ', healthy' : ''}${m.reported_at ? ` (reported ${m.reported_at})` : ''}`],
    ['desired', `${m.desired_state}${m.cordoned ? ', cordoned (no proxy routes to it)' : ''}`],
    ['region', m.region],
    ['host', m.host],
    ['release', `v${m.release}`],
    ['image', m.image_ref],
    ['command', c.cmd.join(' ') || "the image's"],
    ['port', String(c.internal_port)],
    ['vm', `${c.guest.cpus} cpu, ${c.guest.memory_mb} MB`],
    ['env', Object.keys(c.env).sort().join(', ') || '-'],
    ['secrets', c.secret_names.join(', ') || '-'],
    ['metadata', meta.join(', ') || '-'],
    ['created', m.created_at],
  ];
  return `machine ${m.id}\n${table(rows.map(([k, v]) => [`  ${k}`, v ?? '']))}`;
}
