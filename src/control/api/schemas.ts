/**
 * Request schemas and the documents the API stores. Names avoid dots: store keys are
 * `<app>.<something>` (NATS subject tokens), so an app name must be one token.
 */
import { z } from 'zod';
import { isKnownRegion, type Clock, type Logger } from '../../shared/index.js';
import { type MetricsRegistry } from '../../shared/index.js';
import {
  APP_NAME_RE,
  APP_NAME_RULE,
  DIGEST_RE,
  HOST_ID_RE,
  MACHINE_ID_RE,
  MACHINE_STATE_NAMES,
  MAX_MACHINE_EVENTS,
  MAX_TAIL_LINE_CHARS,
  MAX_TAIL_LINES,
  ORG_NAME_RE,
  PROCESS_GROUP_RE,
  PROCESS_GROUP_RULE,
  SECRET_NAME_RE,
  machineKey,
  releaseKey,
  type AppDoc,
  type HostDoc,
  type HostMeshDoc,
  type MachineDoc,
  type MachineStateDoc,
  type ReleaseDoc,
} from '../../contract/index.js';
import type { DeployRunner } from '../deploy/index.js';
import type { HostHealth } from './host-health.js';
import type { FeedProgress } from './feed-progress.js';
import type { PlatformCertificates } from '../certs/index.js';
import { DEPLOY_STRATEGIES } from '../deploy/types.js';
import type { StateStore } from '../store/index.js';
import type { RegistryStorage } from '../registry/index.js';

/** What every route handler may use. */
export interface ApiContext {
  store: StateStore;
  /** Runs deploys; controlRoutes makes one when absent (startControlPlane passes its own to recover and close it). */
  deploys?: DeployRunner;
  secretsKey: Buffer;
  /** Where uploaded images (.tar.gz by digest) live, and the platform registry under registry/. */
  imagesDir: string;
  /** The platform registry's storage (/v2/); absent in socket-free tests that need none. */
  registry?: RegistryStorage | undefined;
  /** The largest image upload taken (default DEFAULT_MAX_IMAGE_BYTES; control.toml limits.max_image_bytes). */
  maxImageBytes?: number | undefined;
  /** Apps are served at `<app>.<appsDomain>` (default DEFAULT_APPS_DOMAIN; control.toml apps_domain): GET /v1/apps/{app} says so. */
  appsDomain?: string | undefined;
  /** Host liveness; absent in socket-free tests (every host counts as alive). */
  hostHealth?: HostHealth | undefined;
  /**
   * The hex SHA-256 of the certificate the API serves (when it serves TLS): put into join tokens,
   * so an agent checks the control plane's identity from its first request.
   */
  tlsFingerprint?: string | undefined;
  /** The key this platform's proxies mark requests to each other with, handed to joined hosts. */
  peerKey?: string | undefined;
  /** The private network's /16 (control.toml [network] private_prefix; default fdaa::/16). */
  privatePrefix?: string | undefined;
  /** The platform's certificates (control/certs); made without ACME when absent (socket-free tests). */
  certificates?: PlatformCertificates | undefined;
  /** How far each host's view of the feed has come (challenge answers wait for it). */
  feedProgress?: FeedProgress | undefined;
  /** What GET /metrics renders; absent in socket-free tests (an empty answer). */
  metrics?: MetricsRegistry | undefined;
  clock: Clock;
  logger: Logger;
}

export { APP_NAME_RE, DIGEST_RE, HOST_ID_RE, MACHINE_ID_RE, ORG_NAME_RE, SECRET_NAME_RE };
export { MACHINE_STATE_NAMES, machineKey, releaseKey, type AppDoc, type HostDoc, type HostMeshDoc, type MachineDoc, type MachineStateDoc, type ReleaseDoc };

export const appName = z.string().regex(APP_NAME_RE, APP_NAME_RULE);
/** A catalog region code in any case (`LHR`): stored and compared in lower case, as the catalog spells it. */
export const regionCode = z.string().trim().toLowerCase().refine(isKnownRegion, 'is not a known region (see GET /v1/regions and docs/control-api.md)');

export const orgName = z.string().regex(ORG_NAME_RE, APP_NAME_RULE);

/** `org` defaults to the token's org (the platform operator's default: `personal`). */
export const CreateApp = z.strictObject({ name: appName, primary_region: regionCode, org: orgName.optional() });

export const CreateRelease = z.strictObject({
  config: z.record(z.string(), z.unknown()),
  image: z.strictObject({
    ref: z.string().min(1).max(512),
    digest: z.string().regex(DIGEST_RE, 'must be sha256:<64 hex digits>'),
    // 'oci': a manifest in the app's repository of the platform registry (/v2/<app>).
    kind: z.literal('oci').optional(),
  }),
});

/** `{ NAME: value, … }`; at least one. */
export const SetSecrets = z
  .record(z.string().regex(SECRET_NAME_RE, 'secret names are letters, digits and _, not starting with a digit'), z.string().max(65536))
  .refine((o) => Object.keys(o).length > 0, 'give at least one NAME: value pair');

/** What a joined host says about itself; its id and region come from its credential. */
export const RegisterHost = z.strictObject({
  region: regionCode,
  capacity: z.strictObject({ machines: z.number().int().min(0).max(100000), volume_gb: z.number().int().min(0).max(1_000_000).optional() }),
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
  /** The host on the WireGuard mesh ([mesh] in agent.toml): its public key and underlay endpoint. */
  mesh: z
    .strictObject({
      public_key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a WireGuard public key (base64 of 32 bytes)'),
      endpoint: z.string().regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, 'must be IP:PORT (IPv6 in brackets) of the WireGuard socket'),
      /** The TCP port its proxy takes other hosts' requests on, at its mesh address (the backhaul). */
      backhaul_port: z.number().int().min(1).max(65535, 'must be a port from 1 to 65535').optional(),
    })
    .optional(),
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

export interface SecretDoc {
  app: string;
  name: string;
  digest: string;
  /** AES-256-GCM envelope (src/control/secrets); never leaves the control plane. */
  encrypted: string;
  updated_at: string;
}

export const secretKey = (app: string, name: string): string => `${app}.${name}`;

// ---- machines: what the scheduler and deploys want (machines), what agents report (machine_states)

// Why a machine is as it is (kept in machine_details): bounded here, whatever an agent sends.
const text = z.string().max(MAX_TAIL_LINE_CHARS + 1);
const isoTime = z.string().max(40);
const MachineExit = z.strictObject({
  code: z.number().int().nullable(),
  signal: z.string().max(20).nullable(),
  at: isoTime,
  exits: z.number().int().min(0),
  will_restart: z.boolean(),
});
const MachineCheck = z.strictObject({ name: z.string().max(200), status: z.enum(['passing', 'warning', 'critical']), output: text, failures: z.number().int().min(0) });
const MachineEvent = z.strictObject({ at: isoTime, type: z.string().max(20), message: text });
const MachineLogLine = z.strictObject({ time: isoTime, stream: z.enum(['stdout', 'stderr']), message: text });

export const ReportMachineState = z.strictObject({
  state: z.enum(MACHINE_STATE_NAMES),
  healthy: z.boolean(),
  release: z.number().int().min(1),
  exit: MachineExit.nullable().optional(),
  checks: z.array(MachineCheck).max(20).optional(),
  events: z.array(MachineEvent).max(MAX_MACHINE_EVENTS).optional(),
  log_tail: z.array(MachineLogLine).max(MAX_TAIL_LINES).optional(),
});


export const StartDeploy = z.strictObject({
  /** Default: the latest release. */
  release: z.number().int().min(1).optional(),
  /** Default: the release config's deploy.strategy. */
  strategy: z.enum(DEPLOY_STRATEGIES).optional(),
  /** Default: the release config's deploy.max_unavailable (a fraction below 1, else a count). */
  max_unavailable: z.number().positive().refine((n) => n < 1 || Number.isInteger(n), 'must be a fraction below 1 or a whole number').optional(),
  wait_timeout_s: z.number().int().min(1).max(3600).optional(),
});

export const ScaleCount = z
  .strictObject({
    /** Machines per region, of the app's only process group. */
    count: z.number().int().min(0).max(1000).optional(),
    /** Machines per region, by process group (`scale count web=2 worker=1`). */
    groups: z.record(z.string().regex(PROCESS_GROUP_RE, PROCESS_GROUP_RULE), z.number().int().min(0).max(1000)).optional(),
    regions: z.array(regionCode).max(64).optional(),
  })
  .refine((b) => (b.count === undefined) !== (b.groups === undefined || Object.keys(b.groups).length === 0), 'give count, or groups ({ "web": 2 }), not both');
