import { bits, contains, parseIp, parsePrefix, type Prefix } from '../shared/index.js';
import { MAX_IFNAME, type FabricSpec } from './fabric-types.js';

/**
 * What buildFabric checks before it makes anything (pure, so unit tests run it): names the kernel
 * and an iproute2 batch line take as they are, and addresses that can be configured — both ends of
 * a link in one subnet, per family, and every static route's gateway on a link of its namespace in
 * the gateway's family. IPv6 link addresses must be global unicast outside fc00::/7 (the platform's
 * private network, fdaa::/16, runs over the lab's links and must never collide with them).
 */

/** Namespace and interface names: kernel-valid and safe in an iproute2 batch line (no quoting needed). */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ULA = parsePrefix('fc00::/7')!;
const LINK_LOCAL = parsePrefix('fe80::/10')!;

/** `addr/len` of `family`, or undefined. */
function cidr(s: string, family: 4 | 6): Prefix | undefined {
  const p = parsePrefix(s);
  return p?.family === family ? p : undefined;
}

/** The subnet of `p` (host bits cleared) as a comparable key. */
const subnetKey = (p: Prefix): string => `${p.family} ${p.value >> BigInt(bits(p.family) - p.len)}/${p.len}`;
const hostOf = (p: Prefix): Prefix => ({ ...p, len: bits(p.family) });

/** Every problem with `spec`, all at once; empty when it can be built. */
export function validateFabricSpec(spec: FabricSpec): string[] {
  const out: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(spec.lab)) out.push(`lab name "${spec.lab}": use 1-32 characters of a-z, 0-9 and "-"`);
  const prefix = `sl-${spec.lab}-`;
  const ifnames = new Map<string, Set<string>>();
  const subnets = new Map<string, Prefix[]>();
  for (const ns of spec.namespaces) {
    if (!ns.name.startsWith(prefix) || ns.name.length === prefix.length) out.push(`namespace "${ns.name}": must start with "${prefix}"`);
    else if (!SAFE_NAME.test(ns.name) || ns.name.length > 64) out.push(`namespace "${ns.name}": use at most 64 of A-Z a-z 0-9 _ . -`);
    if (ifnames.has(ns.name)) out.push(`namespace "${ns.name}" is declared twice`);
    ifnames.set(ns.name, new Set(['lo']));
    subnets.set(ns.name, []);
    ns.loopback.forEach((a, i) => {
      if (!cidr(a, 6) && !cidr(a, 4)) out.push(`${ns.name}: loopback address "${a}" is not an address with a prefix length`);
      else if (ns.loopback.indexOf(a) !== i) out.push(`${ns.name}: loopback address ${a} is listed twice`);
    });
  }
  spec.links.forEach((link, i) => {
    const ends = [link.a, link.b].map((end) => {
      const where = `link ${i + 1} end ${end.ns}:${end.ifname}`;
      const names = ifnames.get(end.ns);
      if (!names) out.push(`${where}: namespace "${end.ns}" is not declared`);
      if (!SAFE_NAME.test(end.ifname) || end.ifname.length > MAX_IFNAME || ['all', 'default'].includes(end.ifname)) {
        out.push(`${where}: interface name must be 1-${MAX_IFNAME} of A-Z a-z 0-9 _ . - (and not "all" or "default")`);
      } else if (names?.has(end.ifname)) out.push(`${where}: interface name is already used in ${end.ns}`);
      names?.add(end.ifname);
      const v4 = cidr(end.address, 4);
      if (!v4) out.push(`${where}: "${end.address}" is not an IPv4 address with a prefix length`);
      else subnets.get(end.ns)?.push(v4);
      if (end.address6 === undefined) return { v4, v6: undefined };
      const v6 = cidr(end.address6, 6);
      if (!v6) out.push(`${where}: "${end.address6}" is not an IPv6 address with a prefix length`);
      else if (contains(ULA, hostOf(v6)) || contains(LINK_LOCAL, hostOf(v6))) {
        out.push(`${where}: ${end.address6} is ${contains(ULA, hostOf(v6)) ? 'in fc00::/7, where the private network lives' : 'link-local'}; use global addresses (the lab's are in 2001:db8::/32)`);
      } else subnets.get(end.ns)?.push(v6);
      return { v4, v6 };
    });
    const [a, b] = ends;
    if (a?.v4 && b?.v4 && (subnetKey(a.v4) !== subnetKey(b.v4) || a.v4.value === b.v4.value)) {
      out.push(`link ${i + 1}: ${link.a.address} and ${link.b.address} are not two addresses of one subnet`);
    }
    if ((link.a.address6 === undefined) !== (link.b.address6 === undefined)) {
      out.push(`link ${i + 1}: only one end has an IPv6 address (${link.a.address6 ?? link.b.address6}): give both ends one, or neither`);
    } else if (a?.v6 && b?.v6 && (subnetKey(a.v6) !== subnetKey(b.v6) || a.v6.value === b.v6.value)) {
      out.push(`link ${i + 1}: ${link.a.address6} and ${link.b.address6} are not two addresses of one subnet`);
    }
  });
  for (const ns of spec.namespaces) {
    const targets = new Set<string>();
    for (const r of ns.routes) {
      const where = `${ns.name}: route to ${r.to} via ${r.via}`;
      const via = parseIp(r.via);
      if (!via) {
        out.push(`${where}: "${r.via}" is not an IP address`);
        continue;
      }
      const family = via.family;
      const to = r.to === 'default' ? { ...via, value: 0n, len: 0 } : cidr(r.to, family);
      if (!to) out.push(`${where}: "${r.to}" is neither "default" nor an IPv${family} prefix (the gateway's family)`);
      else if (to.value >> BigInt(bits(family) - to.len) << BigInt(bits(family) - to.len) !== to.value) out.push(`${where}: "${r.to}" has host bits set`);
      else if (targets.has(subnetKey(to))) out.push(`${where}: a second route to the same prefix`);
      if (to) targets.add(subnetKey(to));
      const onLink = (subnets.get(ns.name) ?? []).some((s) => s.family === family && contains(s, hostOf({ ...via, len: 0 })));
      if (!onLink) out.push(`${where}: the gateway is on none of its links`);
    }
  }
  return out;
}
