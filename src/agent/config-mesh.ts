/**
 * `[mesh]` in agent.toml: this host on the platform's WireGuard mesh (docs/private-network.md).
 * Present: the agent makes (once) and keeps its key pair, registers the public key and endpoint
 * with the control plane, runs the interface and keeps its peers equal to the host list. It needs
 * `[control]` (the host list comes from there).
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { SchemaIssue } from '../shared/index.js';
import { isReachableIpPort, parseHostPort } from './addresses.js';

export interface MeshSection {
  /** The WireGuard interface: unique on the computer (wireguard-go's sockets are not per namespace). */
  interface: string;
  listen_port: number;
  /** `IP:PORT` other hosts send to; default: the address of [control] proxy_address, at listen_port. */
  endpoint: string;
  /** The private key (0600), made at first start. */
  key_file: string;
  /**
   * The TCP port the proxy takes other hosts' requests on, at this host's mesh address: the
   * backhaul travels inside WireGuard, and the public listeners stop trusting the peer key.
   */
  backhaul_port: number;
  /**
   * Where the machines' `.internal` DNS sends every other name: `resolv.conf` (the host's first
   * nameserver that is an IP address), `off` (refused), or `IP:PORT`.
   */
  dns_upstream: string;
  /**
   * Which WireGuard runs the interface: `auto` (the kernel's where `ip link add … type wireguard`
   * works, else wireguard-go), `kernel`, or `wireguard-go`.
   */
  wireguard: 'auto' | 'kernel' | 'wireguard-go';
}

/** Any free port does; this one is easy to spot in `ss` and firewall rules, and is not a well-known service's. */
export const DEFAULT_BACKHAUL_PORT = 4280;

export const meshSchema = z.strictObject({
  interface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be 1-15 letters, digits, _ . or - (a Linux interface name), unique on this computer'),
  listen_port: z.number().int('must be a port number').min(1, 'must be a port from 1 to 65535').max(65535, 'must be a port from 1 to 65535').default(51820),
  endpoint: z.string().refine(isReachableIpPort, 'must be IP:PORT that other hosts can send to (an address, not 0.0.0.0 or ::; IPv6 in brackets)').optional(),
  key_file: z.string().min(1).optional(),
  backhaul_port: z.number().int('must be a port number').min(1, 'must be a port from 1 to 65535').max(65535, 'must be a port from 1 to 65535').default(DEFAULT_BACKHAUL_PORT),
  dns_upstream: z
    .string()
    .refine((v) => v === 'resolv.conf' || v === 'off' || isReachableIpPort(v), 'must be "resolv.conf", "off" or IP:PORT of a resolver (IPv6 in brackets)')
    .default('resolv.conf'),
  wireguard: z.enum(['auto', 'kernel', 'wireguard-go']).default('auto'),
});

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function meshIssues(doc: unknown): SchemaIssue[] {
  const d = obj(doc);
  if (d.mesh === undefined) return [];
  if (d.control === undefined) return [{ path: 'mesh', message: 'needs [control]: the mesh\'s peers are the control plane\'s hosts' }];
  return [];
}

export function resolveMesh(m: z.infer<typeof meshSchema>, stateDir: string, proxyAddress: string): MeshSection {
  const host = parseHostPort(proxyAddress)?.host ?? '127.0.0.1';
  const endpoint = m.endpoint ?? `${host.includes(':') ? `[${host}]` : host}:${m.listen_port}`;
  return { interface: m.interface, listen_port: m.listen_port, endpoint, key_file: m.key_file ?? join(stateDir, 'wireguard.key'), backhaul_port: m.backhaul_port, dns_upstream: m.dns_upstream, wireguard: m.wireguard };
}
