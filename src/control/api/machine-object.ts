/**
 * A machine as the platform Machines API answers it: fly's machine object (the shape the agent's
 * local Machines API answers too, contract/machines-api.ts) built from what the control plane
 * knows — the placement (`machines`), its host's last report (`machine_states`, `machine_details`)
 * and the release it runs, with the placement's overrides — plus the control plane's own fields:
 * where it is placed, its release, health, and what was asked of it (desired state, cordon).
 *
 * The config is the release's as every host computes it (contract machineConfigFor), so it is
 * what the machine runs, except what only its host knows: an OCI image's own command (`cmd` is
 * then the config's, or empty) and the private address (null). Secrets appear by name only.
 */
import { describeError } from '../../shared/index.js';
import {
  MACHINE_ID_RE,
  groupOf,
  isAppMachine,
  machineConfigFor,
  machineKey,
  machineObject,
  releaseKey,
  withOverrides,
  type DesiredMachineState,
  type MachineRole,
  type MachineDetailsDoc,
  type MachineDoc,
  type MachineObject,
  type MachineStateDoc,
  type ReleaseDoc,
} from '../../contract/index.js';
import { DETAILS } from './machine-details.js';
import { HttpError } from './http.js';
import type { ApiContext, SecretDoc } from './schemas.js';

export interface PlatformMachine extends MachineObject {
  host: string;
  release: number;
  /** The deploy that placed it; null for scale and the Machines API. */
  deploy: string | null;
  /** Started and every check passing, as its host last reported: the proxies route to it. */
  healthy: boolean;
  /** When its host last reported it; null before the first report (its state is then `pending`). */
  reported_at: string | null;
  desired_state: DesiredMachineState;
  cordoned: boolean;
  /** Its process group (contract/process-groups.ts); absent on a release command's machine. */
  process_group?: string;
  /** A deploy's temporary machine (MachineDoc.role): not one of the app's, in no group. */
  role?: MachineRole | undefined;
  /** The volume it mounts (docs/volumes.md); null: none. */
  volume: string | null;
}

/** What building many machines' objects reads once. */
interface Known {
  states: Map<string, MachineStateDoc>;
  details: Map<string, MachineDetailsDoc>;
  releases: Map<number, ReleaseDoc | undefined>;
  secretNames: string[];
}

async function known(ctx: ApiContext, app: string, only?: string): Promise<Known> {
  const { store } = ctx;
  const read = async <T extends { id: string }>(collection: string): Promise<Map<string, T>> => {
    const entries = only === undefined ? await store.list(collection, { prefix: `${app}.` }) : [await store.get(collection, machineKey(app, only))].filter((e) => e !== undefined);
    return new Map(entries.map((e) => [(e.value as T).id, e.value as T]));
  };
  const secretNames = (await store.list('secrets', { prefix: `${app}.` })).map((e) => (e.value as SecretDoc).name).sort();
  return { states: await read<MachineStateDoc>('machine_states'), details: await read<MachineDetailsDoc>(DETAILS), releases: new Map(), secretNames };
}

async function releaseOf(ctx: ApiContext, k: Known, app: string, version: number): Promise<ReleaseDoc | undefined> {
  if (!k.releases.has(version)) k.releases.set(version, (await ctx.store.get('releases', releaseKey(app, version)))?.value as ReleaseDoc | undefined);
  return k.releases.get(version);
}

function build(ctx: ApiContext, m: MachineDoc, release: ReleaseDoc | undefined, k: Known): PlatformMachine {
  const s = k.states.get(m.id);
  const d = k.details.get(m.id);
  const secrets = Object.fromEntries(k.secretNames.map((n) => [n, '']));
  let c: ReturnType<typeof machineConfigFor> | undefined;
  try {
    if (release) c = withOverrides(machineConfigFor(release.config, { app: m.app, image: release.image.ref, secrets, role: m.role, process_group: m.process_group, cmd: m.overrides?.cmd }), m.overrides);
  } catch (e) {
    // A release config the hosts would refuse too: the machine is shown, its config empty.
    ctx.logger.warn('a release config does not give a machine config', { app: m.app, release: m.release, error: describeError(e) });
  }
  const object = machineObject({
    id: m.id,
    app: m.app,
    region: m.region,
    state: s?.state ?? 'pending',
    private_ip: null,
    image_ref: release?.image.ref ?? '',
    created_at: m.created_at,
    updated_at: s?.updated_at ?? m.created_at,
    checks: { passing: s?.healthy ?? false, checks: (d?.checks ?? []).map((x) => ({ name: x.name, status: x.status, output: x.output, last: undefined })) },
    config: {
      image: release?.image.ref ?? '',
      cmd: c?.cmd ?? [],
      env: c?.env ?? {},
      internal_port: c?.internal_port ?? 0,
      guest: c?.guest ?? { cpus: 0, memory_mb: 0 },
      restart: c?.restart ?? { policy: 'on-failure', max_retries: 0 },
      checks: c?.checks ?? {},
      secret_names: k.secretNames,
      metadata: m.metadata ?? {},
    },
  });
  return {
    ...object,
    host: m.host,
    release: m.release,
    deploy: m.deploy,
    healthy: s?.healthy ?? false,
    reported_at: s?.updated_at ?? null,
    desired_state: m.desired_state ?? 'started',
    cordoned: m.cordoned ?? false,
    volume: m.volume ?? null,
    ...(isAppMachine(m) ? { process_group: groupOf(m) } : { role: m.role }),
  };
}

/** The app's machines (every host), in placement order. */
export async function platformMachines(ctx: ApiContext, app: string): Promise<PlatformMachine[]> {
  const k = await known(ctx, app);
  const docs = (await ctx.store.list('machines', { prefix: `${app}.` })).map((e) => e.value as MachineDoc);
  const out: PlatformMachine[] = [];
  for (const m of docs) out.push(build(ctx, m, await releaseOf(ctx, k, app, m.release), k));
  return out;
}

/** One machine's object, from its placement. */
export async function platformMachine(ctx: ApiContext, m: MachineDoc): Promise<PlatformMachine> {
  const k = await known(ctx, m.app, m.id);
  return build(ctx, m, await releaseOf(ctx, k, m.app, m.release), k);
}

/** A machine's placement, with the revision it was read at; 404 when the app has none of that id. */
export async function placementOf(ctx: ApiContext, app: string, id: string): Promise<{ doc: MachineDoc; revision: number }> {
  const entry = MACHINE_ID_RE.test(id) ? await ctx.store.get('machines', machineKey(app, id)) : undefined;
  if (!entry) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${JSON.stringify(id.slice(0, 40))}: list them with starling machines list --app ${app}`);
  return { doc: entry.value as MachineDoc, revision: entry.revision };
}
