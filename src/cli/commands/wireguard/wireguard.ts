/**
 * `starling wireguard create|list|remove`: devices outside the platform (your laptop) on an org's
 * private network, as `fly wireguard` (docs/private-network.md, "Your laptop"). The key pair is
 * made here; only the public key goes to the control plane, and the private key is shown once, in
 * the config (or written to a 0600 file with --write).
 */
import { generateMeshKeys } from '../../../mesh/index.js';
import { callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { writeSecret } from '../tokens/secret-out.js';
import { wireguardCreate, wireguardList, wireguardRemove } from './meta.js';
import { wgQuickConfig, type CreatedPeerJson } from './wg-quick.js';

type PeerJson = Omit<CreatedPeerJson, 'gateway' | 'network' | 'dns'>;

const base = (org: string): string => `/v1/orgs/${encodeURIComponent(org)}/wireguard`;

export const runWireguardCreate = implement(wireguardCreate, async (opts) => {
  const keys = generateMeshKeys();
  const body = { name: opts.name, public_key: keys.publicKey, ...(opts.region !== undefined ? { region: opts.region } : {}) };
  const peer = await callControl<CreatedPeerJson>(resolveControl(opts), 'POST', base(opts.org), body);
  const config = wgQuickConfig(peer, keys.privateKey);
  const file = writeSecret(opts.write, config.trimEnd());
  if (opts.json) printJson(file ? { ...peer, written_to: file } : { ...peer, config });
  else if (file) console.log(`peer ${peer.name}: ${peer.address} through ${peer.host} (${peer.region})\nits config is in ${file} (0600): wg-quick up ${file}`);
  else process.stdout.write(`${config}\n# This is the only time the private key is shown: keep this config (0600).\n`);
  return 0;
});

export const runWireguardList = implement(wireguardList, async (opts) => {
  const { peers } = await callControl<{ peers: PeerJson[] }>(resolveControl(opts), 'GET', base(opts.org));
  if (opts.json) printJson(peers);
  else if (peers.length === 0) console.log(`org ${opts.org} has no WireGuard peers; add one with: starling wireguard create --org ${opts.org} NAME`);
  else console.log(table([['NAME', 'ADDRESS', 'GATEWAY', 'REGION', 'CREATED'], ...peers.map((p) => [p.name, p.address, p.host, p.region, p.created_at])]));
  return 0;
});

export const runWireguardRemove = implement(wireguardRemove, async (opts) => {
  await callControl(resolveControl(opts), 'DELETE', `${base(opts.org)}/${encodeURIComponent(opts.name)}`);
  console.log(`removed WireGuard peer ${opts.name} of org ${opts.org}: its gateway drops it`);
  return 0;
});
