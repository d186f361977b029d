/**
 * What a machine may reach on its own host: the platform's public ports on its gateway address,
 * and nothing else. The routing lock in sandbox-net.ts (`iif <veth> unreachable` after the local
 * table) stops forwarding, but the kernel consults the `local` table first: every address of the
 * host — the machine's gateway, other machines' host-side ends, the host's own interfaces — is
 * delivered locally, so without a filter a machine reaches every host service bound to 0.0.0.0
 * (BIRD's BGP port, the agent's admin and Machines API, a control plane).
 *
 * One nftables table per machine (`table inet <name>`), created before the machine runs and deleted
 * with it, so no shared ruleset is edited and a leftover is found by name:
 *   input, on the machine's host-side veth only:
 *     ct state established,related → accept   (answers to host → machine: proxy, checks)
 *     tcp to its own gateway address on a public port → accept
 *     any other tcp → reject with tcp reset; anything else → reject with icmpx admin-prohibited,
 *     so a connect() or a send fails at once instead of waiting out retries
 *   forward: drop what enters from, or would leave to, the veth (belt and braces: the ip rule
 *     already refuses to route it; this holds even if someone removes the rule).
 * A machine with a private address (IPv6, its host on the mesh) also gets, in forward, its own
 * organisation: out from its own address to an address of its org, in to its address from one —
 * on this host or through the mesh. Every machine's table must accept a packet (nftables runs every
 * table's chain; a drop anywhere is final), so machine → machine passes only when both tables say
 * the other is of their org: another org is dropped both ways, and a spoofed source at the first.
 * Input lets neighbour discovery reach the host's fe80::1 (the machine's next hop), the
 * `.internal` DNS, and TCP to its org's private service addresses (fly's Flycast, on every host);
 * the host's own addresses stay closed to IPv6 otherwise.
 */
import { spawn } from 'node:child_process';
import { orgNetwork, ORG_NETWORK_MASK, privateDnsAddress } from '../../mesh/index.js';
import { StarlingError } from '../../shared/index.js';

export interface FirewallPlace {
  /** nftables table name, `sm-<short>` like the machine's netns. */
  table: string;
  hostIf: string;
  hostAddress: string;
  /** The machine's private IPv6, when it has one: its organisation's machines are let through. */
  privateAddress?: string | undefined;
}

/** The table as an `nft -f` script (pure: what the tests read is what the kernel gets). */
export function firewallScript(p: FirewallPlace, publicPorts: readonly number[]): string {
  const iif = `iifname "${p.hostIf}"`;
  const ports = [...new Set(publicPorts)].sort((a, b) => a - b);
  return [
    `table inet ${p.table} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname != "${p.hostIf}" accept`,
    '    ct state established,related accept',
    ...(ports.length ? [`    ip daddr ${p.hostAddress} tcp dport { ${ports.join(', ')} } accept`] : []),
    // The machine finds its next hop (the host's fe80::1) by neighbour discovery.
    ...(p.privateAddress
      ? [
          '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept',
          // The .internal DNS at <prefix>::3 (agent/private-dns-link.ts).
          `    ip6 daddr ${privateDnsAddress(p.privateAddress)} meta l4proto { udp, tcp } th dport 53 accept`,
          // Its org's private service addresses (Flycast: agent/private-services.ts), the only addresses of its org local to a host.
          `    ip6 daddr & ${ORG_NETWORK_MASK} == ${orgNetwork(p.privateAddress)} meta l4proto tcp accept`,
        ]
      : []),
    '    meta l4proto tcp reject with tcp reset',
    '    reject with icmpx type admin-prohibited',
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    // Its organisation's machines, on this host or across the mesh, and only from its own address.
    ...(p.privateAddress
      ? [
          `    ${iif} ip6 saddr ${p.privateAddress} ip6 daddr & ${ORG_NETWORK_MASK} == ${orgNetwork(p.privateAddress)} accept`,
          `    oifname "${p.hostIf}" ip6 daddr ${p.privateAddress} ip6 saddr & ${ORG_NETWORK_MASK} == ${orgNetwork(p.privateAddress)} accept`,
        ]
      : []),
    `    ${iif} drop`,
    `    oifname "${p.hostIf}" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Runs `nft` with `args`, feeding `stdin`; resolves with its exit code and stderr. */
function nft(bin: string, args: string[], stdin = ''): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4000)));
    child.on('error', (e) => reject(new StarlingError('ERR_SANDBOX_FIREWALL', `cannot run ${bin}: ${e.message}`, { cause: e, hint: 'install the "nftables" package' })));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr: stderr.trim() }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

export function validatePorts(ports: readonly number[]): void {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new StarlingError('ERR_SANDBOX_CONFIG', `public port ${p} is not a TCP port (1-65535)`, { fault: 'user' });
  }
}

/** Creates the machine's table atomically (one `nft -f` transaction). */
export async function createFirewall(bin: string, p: FirewallPlace, publicPorts: readonly number[]): Promise<void> {
  const r = await nft(bin, ['-f', '-'], firewallScript(p, publicPorts));
  if (r.code !== 0) {
    throw new StarlingError('ERR_SANDBOX_FIREWALL', `cannot create the firewall table ${p.table}: ${r.stderr || `nft exited ${r.code}`}`, {
      hint: 'the kernel needs nftables with conntrack (nf_tables, nf_conntrack, nf_reject_inet)',
    });
  }
}

/** Deletes the table; returns what is still there afterwards ([] when gone or never made). */
export async function removeFirewall(bin: string, table: string): Promise<string[]> {
  await nft(bin, ['delete', 'table', 'inet', table]); // "No such file or directory" when absent: fine
  const left = await nft(bin, ['list', 'table', 'inet', table]);
  return left.code === 0 ? [`nft table inet ${table}`] : [];
}
