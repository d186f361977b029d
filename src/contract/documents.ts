/**
 * The documents of the platform's state, as the control plane stores them and as every agent reads
 * them off the feed. The control plane writes `apps`, `releases`, `machines` and `hosts`; agents
 * write `machine_states` (through the API). Store keys are `<app>.<something>` (one NATS subject
 * token each side of the dot).
 */

export interface AppDoc {
  name: string;
  /** The org it belongs to; absent on apps made before orgs existed, which are in `personal`. */
  org?: string;
  primary_region: string;
  created_at: string;
  /** The version of the latest release (0: none yet). */
  release_version: number;
  /** The release the app's machines run: set when a deploy succeeds (absent or 0: never deployed). */
  deployed_release?: number;
  /** Bumped by every secrets change; releases record the one they were made with. */
  secrets_version: number;
}

export interface ReleaseDoc {
  app: string;
  version: number;
  config: Record<string, unknown>;
  /**
   * `kind: 'oci'`: an image in the platform registry, repository = the app, `digest` its manifest's
   * (linux/amd64); `ref` is what the user named (a registry reference, a path, a Dockerfile build).
   * Without `kind`: a .tar.gz uploaded to /v1/images (releases made before images were OCI).
   */
  image: { ref: string; digest: string; kind?: 'oci' | undefined };
  secrets_version: number;
  created_at: string;
}

/**
 * What became of a release, as `GET /v1/apps/{app}/releases` answers it (docs/control-api.md):
 * `deployed` (what the machines run now), else its last deploy's end — `superseded` (succeeded,
 * replaced since), `deploying`, `rolled_back`, `failed`, `interrupted` — or `created` (never deployed).
 */
export type ReleaseStatus = 'deployed' | 'superseded' | 'deploying' | 'rolled_back' | 'failed' | 'interrupted' | 'created';

export interface HostDoc {
  id: string;
  region: string;
  /** `volume_gb`: what volumes may take of its disk together (absent: an agent from before volumes, none). */
  capacity: { machines: number; volume_gb?: number | undefined };
  agent_url: string;
  proxy?: string;
  /** The host on the WireGuard mesh (docs/private-network.md), once its agent registered a key. */
  mesh?: HostMeshDoc;
  /** False once the host has not been heard from for the host timeout. */
  healthy?: boolean;
  /** When it was last heard from, as of the last health change. */
  last_seen?: string | null;
  registered_at: string;
  updated_at: string;
}

export interface HostMeshDoc {
  /** base64 WireGuard public key (the private key never leaves the host). */
  public_key: string;
  /** `IP:PORT` of its WireGuard socket on the underlay. */
  endpoint: string;
  /**
   * The TCP port its proxy takes other hosts' requests on at its mesh address: other hosts reach
   * its machines there, inside WireGuard. Absent (an agent from before the backhaul moved onto
   * the mesh): they go to its `proxy` address on the underlay, as before.
   */
  backhaul_port?: number;
  /** Its number in the addressing plan, 1–65535, given by the control plane. */
  number: number;
  /** Its mesh address with the platform prefix length, e.g. `fdaa:2::1/16`. */
  address: string;
  /** Everything behind it, e.g. `fdaa:2::/32`: the peer's allowed ips everywhere. */
  subnet: string;
}

/**
 * `wireguard_peers/<org>.<name>`: a device outside the platform (a laptop, a CI runner) on an
 * org's private network, as `fly wireguard create` (docs/private-network.md, "Your laptop"). Its
 * key pair is made by the CLI; only the public key is here. It is a WireGuard peer of one gateway
 * host, at an address behind that host (so every other host already routes it there), and that
 * host lets it reach its org's addresses and the `.internal` DNS, nothing else.
 */
export interface WireguardPeerDoc {
  org: string;
  name: string;
  public_key: string;
  /** The gateway: the host whose WireGuard interface has this peer. */
  host: string;
  region: string;
  /** Its private address, no prefix length: `fdaa:<gateway>:<org>:…`. */
  address: string;
  created_at: string;
}

export const wireguardPeerKey = (org: string, name: string): string => `${org}.${name}`;

/**
 * `private_ips/<app>.v6`: an app's private service address (fly's Flycast, `starling ips
 * allocate-private`): every host on the mesh has it, and its proxy takes connections to it to the
 * app's machines as it does public requests (balancing, limits, autostart). Only the app's org
 * reaches it, and finds it as `<app>.flycast`.
 */
export interface PrivateIpDoc {
  app: string;
  org: string;
  type: 'private_v6';
  /** `fdaa:0:<org>:…` (mesh/addressing.ts serviceAddress), no prefix length. */
  address: string;
  created_at: string;
}

export const privateIpKey = (app: string): string => `${app}.v6`;

/**
 * `volumes/<app>.<id>`: a volume of an app (fly's `fly volumes`): storage of a fixed size on one
 * host, a loop-mounted ext4 image the host's agent makes and keeps (agent/volumes.ts). A machine
 * that mounts it (the release's `[mounts]`, MachineDoc.volume) runs on that host only, one at a
 * time; its files outlive the machine, deploys, agent restarts and reboots.
 */
export interface VolumeDoc {
  /** `vol_` and 14 hex digits. */
  id: string;
  /** What `[mounts] source` names: 1-30 of a-z, 0-9 and `_`. Several volumes of an app share one. */
  name: string;
  app: string;
  region: string;
  host: string;
  size_gb: number;
  created_at: string;
  /** Made from this snapshot (its host's copy of the volume at that moment): on the snapshot's host. */
  snapshot?: string | undefined;
}

/**
 * `volume_snapshots/<app>.<id>`: a volume's files at one moment (`volumes snapshots create`), kept on
 * the volume's host (a copy of its image, taken with the filesystem frozen), restored into a new
 * volume there with `volumes create --snapshot`. It outlives the volume.
 */
export interface VolumeSnapshotDoc {
  /** `vs_` and 14 hex digits. */
  id: string;
  app: string;
  volume: string;
  host: string;
  region: string;
  /** The volume's size when taken. */
  size_gb: number;
  created_at: string;
}

export const SNAPSHOT_ID_RE = /^vs_[0-9a-f]{14}$/;

/** What a host reports of a volume (before its first report the API says `pending`). */
export const VOLUME_STATES = ['ready', 'failed'] as const;
export type VolumeStateName = (typeof VOLUME_STATES)[number];

/** `volume_states/<app>.<id>`: what the host's agent last reported of a volume. */
export interface VolumeStateDoc {
  id: string;
  app: string;
  host: string;
  state: VolumeStateName;
  /** The filesystem's size as made (GB of the image), and what is used of it. */
  size_gb: number;
  used_bytes: number;
  total_bytes: number;
  /** Why it failed (state failed). */
  error?: string;
  updated_at: string;
}

export const volumeKey = (app: string, id: string): string => `${app}.${id}`;
export const VOLUME_ID_RE = /^vol_[0-9a-f]{14}$/;
export const VOLUME_NAME_RE = /^[a-z0-9][a-z0-9_]{0,29}$/;

/** fly's machine states; agents report one of these. */
export const MACHINE_STATE_NAMES = ['created', 'starting', 'started', 'stopping', 'stopped', 'destroying', 'destroyed', 'failed'] as const;
export type MachineStateName = (typeof MACHINE_STATE_NAMES)[number];

/**
 * `machines/<app>.<id>`: a machine the control plane wants on `host`, running release `release`.
 * Written only by the control plane (scale, deploys). Deleting the document is how a machine is
 * destroyed: the host's agent stops it (kill_signal, then kill_timeout) and removes it.
 */
export interface MachineDoc {
  id: string;
  app: string;
  region: string;
  host: string;
  release: number;
  /** The deploy that created it (null: `scale count` or the Machines API). */
  deploy: string | null;
  created_at: string;
  /**
   * Absent: one of the app's machines (served, scaled, replaced by deploys). `release_command`:
   * the temporary machine a deploy runs its release's `[deploy] release_command` in — that
   * command instead of the image's, restart `never`, no checks, never routed, not counted as one
   * of the app's machines; the deploy removes it once it has exited (control/deploy).
   */
  role?: MachineRole | undefined;
  /**
   * Its process group (`[processes]`, contract/process-groups.ts): the group's command, size and
   * restart policy, and only the services that serve the group route to it. Absent: `app`, fly's
   * default (and every placement from before groups). Ignored on a release command's machine.
   */
  process_group?: string | undefined;
  // What the platform Machines API (control/api) sets; absent on machines that scale and deploys
  // place, and on documents from before it.
  /** The run state asked for: absent is `started`. The agent carries it out (sync/reconcile.ts). */
  desired_state?: DesiredMachineState;
  /** Bumped by every start, stop and suspend through the API: the agent carries out each one once. */
  desired_version?: number;
  /** The last stop's signal and timeout in ms (absent: the release's kill_signal and kill_timeout). */
  stop_signal?: string;
  stop_timeout_ms?: number;
  /** The volume it mounts (the release's `[mounts]`): it is placed on that volume's host. */
  volume?: string | undefined;
  /** Cordoned: no proxy routes to it, while it keeps running (sync/control-routes.ts). */
  cordoned?: boolean;
  /** fly's machine metadata: names and values for the user's own tools. */
  metadata?: Record<string, string>;
  /** What this machine runs differently from its release (a create or update with a config). */
  overrides?: MachineOverrides;
}

export const DESIRED_MACHINE_STATES = ['started', 'stopped', 'suspended'] as const;
export type DesiredMachineState = (typeof DESIRED_MACHINE_STATES)[number];

/** fly's create-body fields a platform machine may set over its release's config (contract/machine-config.ts applies them). */
export interface MachineOverrides {
  /** Merged over the release's [env] (a secret's name stays the secret's). */
  env?: Record<string, string>;
  guest?: { cpus?: number; memory_mb?: number };
  restart?: { policy: 'always' | 'never' | 'on-failure'; max_retries?: number };
  /** fly's `config.init.cmd`: the command instead of the release's. */
  cmd?: string[];
}

export const MACHINE_ROLES = ['release_command'] as const;
export type MachineRole = (typeof MACHINE_ROLES)[number];

/** One of the app's own machines: not a deploy's temporary one (MachineDoc.role). */
export const isAppMachine = (m: { role?: MachineRole | undefined }): boolean => m.role === undefined;

/** `machine_states/<app>.<id>`: what the host's agent last reported. Written only by agents. */
export interface MachineStateDoc {
  id: string;
  app: string;
  host: string;
  region: string;
  release: number;
  state: MachineStateName;
  /** Started and every check passing: the proxies route to it (never one with a role). */
  healthy: boolean;
  updated_at: string;
  /** Its placement's role, copied by the control plane: a proxy never routes to such a machine. */
  role?: MachineRole | undefined;
}

export const releaseKey = (app: string, version: number): string => `${app}.${String(version).padStart(8, '0')}`;
export const machineKey = (app: string, id: string): string => `${app}.${id}`;

/** One thing that happened to a machine (`exit 1`, `restarting (2/3)`, `check failed: …`), as its agent recorded it. */
export interface MachineEventDoc {
  at: string;
  type: string;
  message: string;
}

/** The machine's process's last end. `exits` counts every end since the machine was created. */
export interface MachineExitDoc {
  code: number | null;
  signal: string | null;
  at: string;
  exits: number;
  /** The restart policy is about to start it again. */
  will_restart: boolean;
}

/** A check as last run: `failures` counts failed runs in a row after the grace period. */
export interface MachineCheckDoc {
  name: string;
  status: 'passing' | 'warning' | 'critical';
  output: string;
  failures: number;
}

export interface MachineLogLineDoc {
  time: string;
  stream: 'stdout' | 'stderr';
  message: string;
}

/**
 * `machine_details/<app>.<id>`: why a machine is as it is — its last exit, checks, newest events
 * and last log lines — from the same reports as `machine_states`, but kept off the agents' feed
 * (no proxy needs it) and kept after the machine is gone (`gone_at` set), so `starling logs
 * --machine ID` and `machines status ID` still answer for a replaced or failed machine. Bounded:
 * MAX_MACHINE_EVENTS events, MAX_TAIL_LINES lines of at most MAX_TAIL_LINE_CHARS each, and the
 * newest MAX_GONE_MACHINES gone machines per app.
 */
export interface MachineDetailsDoc extends Omit<MachineStateDoc, 'healthy'> {
  exit: MachineExitDoc | null;
  checks: MachineCheckDoc[];
  events: MachineEventDoc[];
  log_tail: MachineLogLineDoc[];
  /** When its agent reported it destroyed; null while it exists. */
  gone_at: string | null;
}

export const MAX_MACHINE_EVENTS = 20;
/** Lines a report carries while the machine exists (what a failed deploy prints). */
export const LIVE_TAIL_LINES = 20;
/** Lines the last report (destroyed) carries, kept by the control plane after the machine is gone. */
export const MAX_TAIL_LINES = 100;
export const MAX_TAIL_LINE_CHARS = 500;
export const MAX_GONE_MACHINES = 20;
