/**
 * Hosts and how they join. The operator adds a host by name and region (`starling hosts add`) and
 * gets a one-time join token; the host's agent trades it (`POST /v1/hosts/join`) for a credential
 * of its own, which from then on is the only thing that lets it register itself (`PUT
 * /v1/hosts/{host}`), report its machines and fetch their secrets. Removing a host deletes its
 * credential: it stops working at the next request. The regions list is for every caller.
 */
import { z } from 'zod';
import { findRegion, isStarlingError } from '../../shared/index.js';
import { hashSecret, hostCredential, joinToken, newTokenId, type HostCredentialDoc, type JoinTokenDoc } from '../auth/index.js';
import { decryptSecret, encryptSecret } from '../secrets/index.js';
import type { Op } from '../store/index.js';
import { DEFAULT_PRIVATE_PREFIX } from '../../mesh/index.js';
import { asHost } from './agents.js';
import { meshPlace, MESH_NUMBERS } from './host-mesh.js';
import { WIREGUARD_PEERS } from './wireguard.js';
import { VOLUME_STATES_COLLECTION, VOLUMES } from './volumes.js';
import { SNAPSHOT_STATES, SNAPSHOTS } from './snapshots.js';
import { HttpError, json, route, type Route } from './http.js';
import { HOST_ID_RE, RegisterHost, regionCode, type ApiContext, type HostDoc, type MachineDoc, type MachineStateDoc } from './schemas.js';
import type { VolumeDoc, VolumeSnapshotDoc, WireguardPeerDoc } from '../../contract/index.js';

/** A join token is good for an hour unless asked otherwise; at most a week. */
const DEFAULT_JOIN_EXPIRY_S = 3600;
const MAX_JOIN_EXPIRY_S = 7 * 86_400;

const hostId = z.string().regex(HOST_ID_RE, 'must be lower-case letters, digits and -, at most 63 characters');
const AddHost = z.strictObject({
  id: hostId.refine((h) => h !== 'join', '"join" is reserved (POST /v1/hosts/join)'),
  region: regionCode,
  expires_in_s: z.number().int().min(60).max(MAX_JOIN_EXPIRY_S).optional(),
});
const RemoveQuery = z.strictObject({ force: z.enum(['true', 'false']).optional() });

/** The sealed-secret reference of a host's agent secret (AES-GCM associated data). */
export const agentSecretRef = (host: string): string => `host-agent-secret:${host}`;

/**
 * The secret host `host` chose for the control plane's calls to its agent (logs, start/stop, exec);
 * 503 ERR_HOST_UNREACHABLE while the host has not registered one.
 */
export async function agentSecret(ctx: ApiContext, host: string): Promise<string> {
  const cred = (await ctx.store.get('host_credentials', host))?.value as HostCredentialDoc | undefined;
  if (!cred?.agent_secret) throw new HttpError(503, 'ERR_HOST_UNREACHABLE', `host ${host} has not registered its agent secret`);
  return decryptSecret(ctx.secretsKey, agentSecretRef(host), cred.agent_secret);
}

/** `{agent_url}/v1/apps/{app}/machines/{id}`: one machine on the agent's Machines API. */
export function agentMachineUrl(host: HostDoc, app: string, id: string): string {
  return `${host.agent_url.replace(/\/+$/, '')}/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}`;
}

export function hostRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const now = (): string => new Date(ctx.clock.now()).toISOString();
  return [
    route({
      method: 'POST',
      path: '/v1/hosts',
      access: 'platform',
      summary: 'Add a host: a one-time join token for its agent (shown once)',
      requestSchema: AddHost,
      responses: { '201': '{ host, region, join_token, expires_at }', '409': 'ERR_HOST_REGION: the host joined in another region' },
      async handler({ body }) {
        const joined = (await store.get('host_credentials', body.id))?.value as HostCredentialDoc | undefined;
        if (joined && joined.region !== body.region) {
          throw new HttpError(409, 'ERR_HOST_REGION', `host ${body.id} is in region ${joined.region}: remove it first (starling hosts remove ${body.id}) to add it in ${body.region}`);
        }
        const id = newTokenId();
        const token = joinToken(id, ctx.tlsFingerprint);
        const at = ctx.clock.now();
        const doc: JoinTokenDoc = {
          id,
          host: body.id,
          region: body.region,
          hash: hashSecret(token),
          created_at: new Date(at).toISOString(),
          expires_at: new Date(at + (body.expires_in_s ?? DEFAULT_JOIN_EXPIRY_S) * 1000).toISOString(),
        };
        await store.put('join_tokens', id, doc, { expectRevision: 0 });
        ctx.logger.info('host added: join token issued', { host: body.id, region: body.region, join: id, expires_at: doc.expires_at });
        return json(201, { host: body.id, region: body.region, join_token: token, expires_at: doc.expires_at });
      },
    }),
    route({
      method: 'POST',
      path: '/v1/hosts/join',
      access: 'join',
      summary: 'An agent trades its join token (Authorization) for its host credential; the token is used up',
      responses: { '200': '{ host, region, credential, peer_key }', '401': 'the join token was used, expired or never issued' },
      async handler({ principal }) {
        if (principal.kind !== 'join') throw new HttpError(401, 'ERR_UNAUTHORIZED', 'this endpoint takes a join token');
        const join = await store.get('join_tokens', principal.join.id);
        if (!join) throw new HttpError(401, 'ERR_UNAUTHORIZED', 'the join token was used already');
        const { host, region } = principal.join;
        const credential = hostCredential(host);
        const doc: HostCredentialDoc = { host, region, hash: hashSecret(credential), joined_at: now() };
        try {
          // One transaction: the token is gone exactly when the credential exists (a second use conflicts).
          await store.transaction([
            { op: 'delete', collection: 'join_tokens', key: principal.join.id, expectRevision: join.revision },
            { op: 'put', collection: 'host_credentials', key: host, value: doc },
          ]);
        } catch (e) {
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(401, 'ERR_UNAUTHORIZED', 'the join token was used already');
          throw e;
        }
        ctx.logger.info('host joined', { host, region });
        return json(200, { host, region, credential, peer_key: ctx.peerKey ?? null });
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/hosts/{host}',
      access: 'host',
      summary: 'A host registers itself (at start and whenever its capacity or addresses change)',
      requestSchema: RegisterHost,
      responses: { '200': 'the host, updated', '201': 'the host, new', '403': 'another host, or another region than it joined in' },
      async handler({ params, body, principal }) {
        const { host, region } = asHost(principal, params.host!);
        if (body.region !== region) throw new HttpError(403, 'ERR_FORBIDDEN', `host ${host} joined in region ${region}, not ${body.region}`);
        const at = now();
        const old = await store.get('hosts', host);
        const cred = await store.get('host_credentials', host);
        if (!cred) throw new HttpError(401, 'ERR_UNAUTHORIZED', 'the host was removed');
        ctx.hostHealth?.seen(host);
        const { agent_secret, proxy, mesh: askedMesh, ...fields } = body;
        const credDoc = cred.value as HostCredentialDoc;
        const place = askedMesh && (await meshPlace(store, ctx.privatePrefix ?? DEFAULT_PRIVATE_PREFIX, host, credDoc, askedMesh));
        const doc: HostDoc = {
          id: host,
          ...fields,
          ...(proxy === undefined ? {} : { proxy }),
          ...(place ? { mesh: place.mesh } : {}),
          healthy: true,
          last_seen: at,
          registered_at: (old?.value as HostDoc | undefined)?.registered_at ?? at,
          updated_at: at,
        };
        const sealed = encryptSecret(ctx.secretsKey, agentSecretRef(host), agent_secret);
        try {
          await store.transaction([
            ...(place?.ops ?? []),
            { op: 'put', collection: 'hosts', key: host, value: doc },
            { op: 'put', collection: 'host_credentials', key: host, value: { ...credDoc, agent_secret: sealed, ...(place ? { mesh_number: place.mesh.number } : {}) }, expectRevision: cred.revision },
          ]);
        } catch (e) {
          // Another registration took the number (or changed the credential) first: the agent retries.
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(409, 'ERR_STORE_CONFLICT', `host ${host} registered concurrently with another change: retry`);
          throw e;
        }
        if (!old) ctx.logger.info('host registered', { host, region: body.region });
        return json(old ? 200 : 201, { ...doc, peer_key: ctx.peerKey ?? null });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/hosts',
      access: 'platform',
      summary: 'List hosts, and the ones added that have not joined yet',
      responses: { '200': '{ hosts: [...], pending: [{ host, region, expires_at }] }' },
      async handler() {
        const t = ctx.clock.now();
        const pending = (await store.list('join_tokens'))
          .map((e) => e.value as JoinTokenDoc)
          .filter((j) => Date.parse(j.expires_at) > t)
          .map((j) => ({ host: j.host, region: j.region, expires_at: j.expires_at }));
        return json(200, { hosts: (await store.list('hosts')).map((e) => e.value), pending });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/hosts/{host}',
      access: 'platform',
      summary: 'Remove a host: its credential stops working at once (?force=true also drops the machines placed on it)',
      querySchema: RemoveQuery,
      responses: { '200': '{ deleted, machines, wireguard_peers }', '404': 'ERR_HOST_NOT_FOUND', '409': 'ERR_HOST_HAS_MACHINES, ERR_HOST_HAS_VOLUMES' },
      async handler({ params, query }) {
        const host = params.host!;
        const [doc, cred, joins, machines, states, peers, volumes, snapshots] = await Promise.all([
          store.get('hosts', host),
          store.get('host_credentials', host),
          store.list('join_tokens').then((l) => l.filter((e) => (e.value as JoinTokenDoc).host === host)),
          store.list('machines').then((l) => l.filter((e) => (e.value as MachineDoc).host === host)),
          store.list('machine_states').then((l) => l.filter((e) => (e.value as MachineStateDoc).host === host)),
          store.list(WIREGUARD_PEERS).then((l) => l.filter((e) => (e.value as WireguardPeerDoc).host === host)),
          store.list(VOLUMES).then((l) => l.filter((e) => (e.value as VolumeDoc).host === host)),
          store.list(SNAPSHOTS).then((l) => l.filter((e) => (e.value as VolumeSnapshotDoc).host === host)),
        ]);
        if (!doc && !cred && joins.length === 0) throw new HttpError(404, 'ERR_HOST_NOT_FOUND', `no host ${JSON.stringify(host)}`);
        if (machines.length > 0 && query.force !== 'true') {
          throw new HttpError(409, 'ERR_HOST_HAS_MACHINES', `host ${host} has ${machines.length} machine(s) placed on it: scale them away first, or remove it with force (its machines are dropped)`);
        }
        if (volumes.length + snapshots.length > 0 && query.force !== 'true') {
          const held = [...volumes, ...snapshots].map((e) => e.key).join(', ');
          throw new HttpError(409, 'ERR_HOST_HAS_VOLUMES', `host ${host} holds ${volumes.length} volume(s) and ${snapshots.length} snapshot(s) (${held}): destroy them first, or remove it with force (their data is lost)`);
        }
        const volumeStates = [
          ...(await store.list(VOLUME_STATES_COLLECTION)).filter((e) => volumes.some((v) => v.key === e.key)),
          ...(await store.list(SNAPSHOT_STATES)).filter((e) => snapshots.some((v) => v.key === e.key)),
        ];
        // Its WireGuard peers go with it: their gateway is gone (they make new ones: docs/private-network.md).
        const ops: Op[] = [...joins, ...machines, ...states, ...peers, ...volumes, ...snapshots, ...volumeStates].map((e): Op => ({ op: 'delete', collection: e.collection, key: e.key }));
        if (doc) ops.push({ op: 'delete', collection: 'hosts', key: host });
        if (cred) ops.push({ op: 'delete', collection: 'host_credentials', key: host });
        // Its mesh number is free again; every host's mesh drops the peer when the host document goes.
        const meshNumber = (cred?.value as HostCredentialDoc | undefined)?.mesh_number;
        if (meshNumber !== undefined && (await store.get(MESH_NUMBERS, String(meshNumber)))) ops.push({ op: 'delete', collection: MESH_NUMBERS, key: String(meshNumber) });
        await store.transaction(ops);
        ctx.logger.warn('host removed: its credential no longer works', { host, machines: machines.length, wireguard_peers: peers.length });
        return json(200, { deleted: host, machines: machines.length, wireguard_peers: peers.map((e) => e.key) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/regions',
      access: 'any',
      summary: 'List the regions that have hosts, with catalog coordinates and capacity',
      responses: { '200': '{ regions: [{ code, name, lat, lon, hosts, capacity: { machines } }] }' },
      async handler() {
        const byRegion = new Map<string, { hosts: number; machines: number }>();
        for (const e of await store.list('hosts')) {
          const h = e.value as HostDoc;
          const r = byRegion.get(h.region) ?? { hosts: 0, machines: 0 };
          r.hosts += 1;
          r.machines += h.capacity.machines;
          byRegion.set(h.region, r);
        }
        const regions = [...byRegion.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([code, r]) => {
            const c = findRegion(code);
            return { code, name: c?.name ?? code, lat: c?.lat ?? null, lon: c?.lon ?? null, hosts: r.hosts, capacity: { machines: r.machines } };
          });
        return json(200, { regions });
      },
    }),
  ];
}
