export { generateMeshKeys, isWireguardKey, loadOrCreateMeshKeys, publicKeyOf, type MeshKeys } from './keys.js';
export { formatSet, parseGet, errnoOf, GET, type DeviceState, type PeerConfig, type PeerState, type SetOp } from './uapi.js';
export { desiredPeers, planPeers, KEEPALIVE_S, type MeshClient, type MeshHost } from './plan.js';
export { checkPrivatePrefix, hostAddress, hostSubnet, machineAddress, machineBits, orgNetwork, peerAddress, peerBits, serviceAddress, isServiceAddress, orgNumber, ORG_NETWORK_MASK, privateDnsAddress, privateNetOf, DEFAULT_PRIVATE_PREFIX, MAX_HOST_NUMBER } from './addressing.js';
export { WireguardGoDevice, type DeviceOptions } from './device.js';
export { Mesh, type MeshStatus } from './mesh.js';
export { applyClientFilter, clientFilterScript, clientFilterTable, removeClientFilter } from './client-filter.js';
