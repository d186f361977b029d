/**
 * What a client of this gateway host (a laptop, `starling wireguard create`) may reach: the
 * addresses of its own organisation — machines on any host and other clients, forwarded through
 * the mesh; its org's private services, answered by this host's proxy — and the `.internal` DNS
 * on this host. Nothing else: not this host's own services on
 * its mesh address, not other hosts' (their backhaul ports), not another org's machines.
 *
 * WireGuard already pins each client to its one address (a packet from a peer whose source is
 * outside its allowed-ips is dropped), so the source address says who sent it. Clients are the
 * only senders behind this host's own /32 that come in on the mesh interface (its machines come
 * on their veths, other hosts' from their own /32s), so the table drops that /32 from the mesh
 * interface after accepting what each client may do: a client the table does not know yet (or
 * any more) gets nothing. One nftables table per mesh interface, replaced whole in one `nft -f`
 * transaction at every change:
 *   input:   client → the DNS address, port 53, or TCP to its org's private service addresses
 *            (Flycast, on every host): accept; anything else from the host's /32: drop
 *   forward: client → an address of its org: accept; anything else from the host's /32: drop
 * Every machine's own table (runtime sandbox-firewall.ts) checks the org again on its host.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { runTool } from '../shared/index.js';
import { orgNetwork, ORG_NETWORK_MASK, privateDnsAddress } from './addressing.js';
import type { MeshClient } from './plan.js';

/** The table's name for the mesh interface `ifname`. */
export const clientFilterTable = (ifname: string): string => `swc-${ifname}`;

/** The `nft -f` script that makes the table what `clients` need; `subnet` is the host's /32 (pure). */
export function clientFilterScript(ifname: string, subnet: string, clients: readonly MeshClient[]): string {
  const table = clientFilterTable(ifname);
  const iif = `iifname "${ifname}"`;
  const sorted = [...clients].sort((a, b) => a.address.localeCompare(b.address));
  return [
    // Declaring then deleting makes the delete succeed whether or not the table exists: one transaction either way.
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...sorted.map((c) => `    ${iif} ip6 saddr ${c.address} ip6 daddr ${privateDnsAddress(c.address)} meta l4proto { udp, tcp } th dport 53 accept`),
    // Its org's private service addresses (Flycast), local to every host: the proxy answers them.
    ...sorted.map((c) => `    ${iif} ip6 saddr ${c.address} ip6 daddr & ${ORG_NETWORK_MASK} == ${orgNetwork(c.address)} meta l4proto tcp accept`),
    `    ${iif} ip6 saddr ${subnet} drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...sorted.map((c) => `    ${iif} ip6 saddr ${c.address} ip6 daddr & ${ORG_NETWORK_MASK} == ${orgNetwork(c.address)} accept`),
    `    ${iif} ip6 saddr ${subnet} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

const nft = (bin: string, script: string): Promise<string> =>
  runTool([bin, '-f', '-'], { code: 'ERR_MESH_FILTER', input: script, hint: 'install nftables (the kernel needs nf_tables): until the table is set, no new WireGuard client gets onto the device' });

const IPV6_FORWARDING = '/proc/sys/net/ipv6/conf/all/forwarding';

/**
 * Makes the host's table what `clients` need. A gateway forwards its clients' packets into the
 * mesh, so IPv6 forwarding is turned on when there are any (a host with machines has it on already).
 */
export async function applyClientFilter(ifname: string, subnet: string, clients: readonly MeshClient[], bin = 'nft'): Promise<void> {
  if (clients.length > 0 && readFileSync(IPV6_FORWARDING, 'utf8').trim() !== '1') writeFileSync(IPV6_FORWARDING, '1');
  await nft(bin, clientFilterScript(ifname, subnet, clients));
}

/**
 * Deletes the table once its interface is gone (the agent stopped its wireguard-go): an adopted
 * interface that lives on keeps it, with the clients it may still have.
 */
export async function removeClientFilter(ifname: string, bin = 'nft'): Promise<void> {
  if (existsSync(`/sys/class/net/${ifname}`)) return;
  const table = clientFilterTable(ifname);
  await nft(bin, `table inet ${table}\ndelete table inet ${table}\n`).catch(() => undefined);
}
