/**
 * Request schemas and the documents the API stores. Names avoid dots: store keys are
 * `<app>.<something>` (NATS subject tokens), so an app name must be one token.
 */
import { z } from 'zod';
import { isKnownRegion, type Clock, type Logger } from '../../shared/index.js';
import type { DeployRunner } from '../deploy/index.js';
import type { HostHealth } from './host-health.js';
import { DEPLOY_STRATEGIES } from '../deploy/types.js';
import type { StateStore } from '../store/index.js';

/** What every route handler may use. */
export interface ApiContext {
  store: StateStore;
  /** Runs deploys; controlRoutes makes one when absent (startControlPlane passes its own to recover and close it). */
  deploys?: DeployRunner;
  secretsKey: Buffer;
  /** Where uploaded images (.tar.gz by digest) live. */
  imagesDir: string;
  /** Host liveness; absent in socket-free tests (every host counts as alive). */
  hostHealth?: HostHealth | undefined;
  /**
   * The hex SHA-256 of the certificate the API serves (when it serves TLS): put into join tokens,
   * so an agent checks the control plane's identity from its first request.
   */
  tlsFingerprint?: string | undefined;
  /** The key this platform's proxies mark requests to each other with, handed to joined hosts. */
  peerKey?: string | undefined;
  clock: Clock;
  logger: Logger;
}

export const APP_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const HOST_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** An image digest: the sha256 of its .tar.gz bytes (group 1: the hex). */
export const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

export const appName = z.string().regex(APP_NAME_RE, 'must be lower-case letters, digits and -, starting with a letter, at most 63 characters');
const region = z.string().refine(isKnownRegion, 'is not a known region (see GET /v1/regions and docs/control-api.md)');

export const ORG_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
export const orgName = z.string().regex(ORG_NAME_RE, 'must be lower-case letters, digits and -, starting with a letter, at most 63 characters');

/** `org` defaults to the token's org (the platform operator's default: `personal`). */
export const CreateApp = z.strictObject({ name: appName, primary_region: region, org: orgName.optional() });

export const CreateRelease = z.strictObject({
  config: z.record(z.string(), z.unknown()),
  image: z.strictObject({
    ref: z.string().min(1).max(512),
    digest: z.string().regex(DIGEST_RE, 'must be sha256:<64 hex digits>'),
  }),
});

/** `{ NAME: value, … }`; at least one. */
export const SetSecrets = z
  .record(z.string().regex(SECRET_NAME_RE, 'secret names are letters, digits and _, not starting with a digit'), z.string().max(65536))
  .refine((o) => Object.keys(o).length > 0, 'give at least one NAME: value pair');

/** What a joined host says about itself; its id and region come from its credential. */
export const RegisterHost = z.strictObject({
  region,
  capacity: z.strictObject({ machines: z.number().int().min(0).max(100000) }),
  agent_url: z.url({ protocol: /^https?$/ }),
  /** `IP:PORT` where other hosts' proxies reach this host's proxy (and through it its machines). */
  proxy: z
    .string()
    .regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, 'must be IP:PORT (IPv6 in brackets)')
    .optional(),
  /**
   * The secret the agent chose for the control plane's calls to its admin API (machine logs):
   * stored sealed, never on the feed, presented only to this host's agent_url.
   */
  agent_secret: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
});

/** Query parameters are strings; the handlers convert them after these checks. */
const uint = (what: string): z.ZodString => z.string().regex(/^\d{1,15}$/, `${what} must be a non-negative integer`);
const hostId = z.string().regex(HOST_ID_RE, 'must be a host id');
export const WatchQuery = z.strictObject({
  since: uint('since').optional(),
  /** The agent asking: holding a watch is how a host shows it is alive (api/host-health.ts). */
  host: hostId.optional(),
  collections: z.string().optional(),
  timeout: uint('timeout').optional(),
});
export const SnapshotQuery = z.strictObject({ collections: z.string().optional(), host: hostId.optional() });

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
  image: { ref: string; digest: string };
  secrets_version: number;
  created_at: string;
}

export interface SecretDoc {
  app: string;
  name: string;
  digest: string;
  /** AES-256-GCM envelope (src/control/secrets); never leaves the control plane. */
  encrypted: string;
  updated_at: string;
}

export interface HostDoc {
  id: string;
  region: string;
  capacity: { machines: number };
  agent_url: string;
  proxy?: string;
  /** False once the host has not been heard from for the host timeout (api/host-health.ts). */
  healthy?: boolean;
  /** When it was last heard from, as of the last health change. */
  last_seen?: string | null;
  registered_at: string;
  updated_at: string;
}

export const releaseKey = (app: string, version: number): string => `${app}.${String(version).padStart(8, '0')}`;
export const secretKey = (app: string, name: string): string => `${app}.${name}`;

// ---- machines: what the scheduler and deploys want (machines), what agents report (machine_states)

/** fly's machine states; agents report one of these. */
export const MACHINE_STATE_NAMES = ['created', 'starting', 'started', 'stopping', 'stopped', 'destroying', 'destroyed', 'failed'] as const;
export const MACHINE_ID_RE = /^[a-z0-9]{1,32}$/;

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
  /** The deploy that created it (null: `scale count`). */
  deploy: string | null;
  created_at: string;
}

/** `machine_states/<app>.<id>`: what the host's agent last reported. Written only by agents. */
export interface MachineStateDoc {
  id: string;
  app: string;
  host: string;
  region: string;
  release: number;
  state: (typeof MACHINE_STATE_NAMES)[number];
  /** Started and every check passing: the proxies route to it. */
  healthy: boolean;
  updated_at: string;
}

export const ReportMachineState = z.strictObject({
  state: z.enum(MACHINE_STATE_NAMES),
  healthy: z.boolean(),
  release: z.number().int().min(1),
});

export const machineKey = (app: string, id: string): string => `${app}.${id}`;

export const StartDeploy = z.strictObject({
  /** Default: the latest release. */
  release: z.number().int().min(1).optional(),
  /** Default: the release config's deploy.strategy. */
  strategy: z.enum(DEPLOY_STRATEGIES).optional(),
  /** Default: the release config's deploy.max_unavailable (a fraction below 1, else a count). */
  max_unavailable: z.number().positive().refine((n) => n < 1 || Number.isInteger(n), 'must be a fraction below 1 or a whole number').optional(),
  wait_timeout_s: z.number().int().min(1).max(3600).optional(),
});

export const ScaleCount = z.strictObject({
  count: z.number().int().min(0).max(1000),
  regions: z.array(region).max(64).optional(),
});
