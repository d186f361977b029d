import { StarlingError } from '../shared/index.js';

/**
 * How the lab names what it makes (docs/lab-topology.md, "Naming and addressing"): namespaces,
 * prefixed per lab so labs and test runs never collide, and BGP router ids. Router ids are IPv4
 * dotted quads for both families: a BGP identifier is a 32-bit number whatever the session carries
 * (RFC 6286), and one BIRD speaks both, so IPv4 and IPv6 break ties the same way.
 */

const LAB_ID = /^[a-z0-9]{1,8}$/;

/** Every namespace of lab `lab` starts with this, so `lab down` can find leftovers after a crash. */
export const labNamespacePrefix = (lab: string): string => `sl-${lab}-`;
export const routerNamespace = (lab: string, city: string): string => `${labNamespacePrefix(lab)}r-${city}`;
export const popHostNamespace = (lab: string, city: string, n: number): string => `${labNamespacePrefix(lab)}p-${city}${n}`;
export const clientNamespace = (lab: string, city: string): string => `${labNamespacePrefix(lab)}c-${city}`;
export const controlNamespace = (lab: string): string => `${labNamespacePrefix(lab)}ctl`;
export const cityRouterId = (cityIndex: number): string => `10.255.${cityIndex}.1`;
export const popHostRouterId = (cityIndex: number, n: number): string => `10.254.${cityIndex}.${n}`;

export function assertLabId(lab: string): void {
  if (!LAB_ID.test(lab)) {
    throw new StarlingError('ERR_LAB_ID', `lab id "${lab}" must be 1-8 characters of a-z and 0-9`, {
      fault: 'user',
      hint: 'it prefixes every namespace name, so keep it short',
    });
  }
}
