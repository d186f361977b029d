/**
 * Which names an app may claim (`certs add`): a DNS name of at least two labels in lower case
 * (trailing dot dropped), never an IP address, never a name under the platform's apps_domain (those
 * are the apps' own), and a wildcard only as the whole first label (`*.example.com`, not
 * `*.*.example.com` nor `a.*.example.com`). The reason names what is wrong.
 */
import { isIP } from 'node:net';
import { tryHostname } from '../../certs/index.js';

export function hostnameProblem(raw: unknown, appsDomain: string): { hostname: string } | { problem: string } {
  if (typeof raw !== 'string' || raw.length === 0) return { problem: 'hostname must be a non-empty string' };
  const text = raw.trim().toLowerCase().replace(/\.$/, '');
  const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
  if (isIP(text.replace(/^\[|\]$/g, '')) !== 0) return { problem: `${shown} is an IP address: certificates and routing are by DNS name` };
  if (text.includes('*')) {
    if (!text.startsWith('*.') || text.slice(2).includes('*')) return { problem: `${shown}: a wildcard may only be the whole first label (*.example.com), one level deep` };
  }
  const name = tryHostname(text);
  if (name === undefined) return { problem: `${shown} is not a DNS name: letters, digits and hyphens in dot-separated labels of at most 63 characters` };
  const bare = name.startsWith('*.') ? name.slice(2) : name;
  if (!bare.includes('.')) return { problem: `${shown} has one label: give a full domain name (www.example.com)` };
  if (/^\d+$/.test(bare.slice(bare.lastIndexOf('.') + 1))) return { problem: `${shown}: the last label is all digits, which no top-level domain is` };
  if (bare === appsDomain || bare.endsWith(`.${appsDomain}`)) {
    return { problem: `${shown} is under the platform's apps_domain ${appsDomain}: every app already has <app>.${appsDomain}` };
  }
  return { hostname: name };
}
