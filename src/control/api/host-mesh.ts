/**
 * A host's place on the WireGuard mesh, given when it registers a key (`PUT /v1/hosts/{host}` with
 * `mesh`): its number in the addressing plan (the lowest free one, kept for as long as the host is
 * joined, reserved under `mesh_numbers/<n>` so two hosts registering at once cannot both take it),
 * and the address and subnet that follow from it. A public key another host has is refused: two
 * hosts with one key would be one peer to everybody.
 */
import type { HostCredentialDoc } from '../auth/index.js';
import { hostAddress, hostSubnet, MAX_HOST_NUMBER } from '../../mesh/index.js';
import type { Op, StateStore } from '../store/index.js';
import { HttpError } from './http.js';
import type { HostDoc, HostMeshDoc } from './schemas.js';

export const MESH_NUMBERS = 'mesh_numbers';

export interface MeshPlace {
  mesh: HostMeshDoc;
  /** Ops to commit with the host's registration (the number's reservation, when new). */
  ops: Op[];
}

export async function meshPlace(
  store: StateStore,
  prefix: string,
  host: string,
  cred: HostCredentialDoc,
  asked: { public_key: string; endpoint: string; backhaul_port?: number | undefined },
): Promise<MeshPlace> {
  const other = (await store.list('hosts')).map((e) => e.value as HostDoc).find((h) => h.id !== host && h.mesh?.public_key === asked.public_key);
  if (other) throw new HttpError(409, 'ERR_MESH_KEY_IN_USE', `host ${other.id} is on the mesh with this WireGuard public key: each host needs its own key pair`);
  let number = cred.mesh_number;
  const ops: Op[] = [];
  if (number === undefined) {
    const used = new Set((await store.list(MESH_NUMBERS)).map((e) => Number(e.key)));
    number = 1;
    while (used.has(number) && number <= MAX_HOST_NUMBER) number++;
    if (number > MAX_HOST_NUMBER) throw new HttpError(409, 'ERR_MESH_FULL', `all ${MAX_HOST_NUMBER} host numbers of the private network are taken`);
    ops.push({ op: 'put', collection: MESH_NUMBERS, key: String(number), value: { host }, expectRevision: 0 });
  }
  const { backhaul_port, ...rest } = asked;
  return { mesh: { ...rest, ...(backhaul_port === undefined ? {} : { backhaul_port }), number, address: hostAddress(prefix, number), subnet: hostSubnet(prefix, number) }, ops };
}
