/**
 * `starling certs add|import|list|show|check|remove --app APP`: an app's hostnames and their
 * certificates on the control plane (as `fly certs`), which the platform's one ACME client orders
 * and renews and every PoP serves. Nothing here reads or prints a private key other than the
 * one `--key` names, which is sent to the control plane (over its pinned TLS) and never echoed.
 */
import type { CertificateView } from '../../../contract/index.js';
import { appPath, callControl, resolveControl, type ControlFlagValues } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { daysText, readPemFile, shortDate } from './common.js';
import { certsCheck } from './meta.js';

/** One hostname as the control plane answers it (contract/certificates.ts). */
export type CertView = CertificateView;

type Target = ControlFlagValues & { app?: string | undefined; json?: boolean | undefined };

const hostPath = (app: string, host: string, suffix = ''): string => appPath(app, `/certificates/${encodeURIComponent(host)}${suffix}`);

function appOf(opts: Target): string {
  if (opts.app === undefined) throw usageError('--app APP is required on the control plane', 'starling certs list --app APP');
  return opts.app;
}

export async function platformAdd(opts: Target & { host: string; cert?: string | undefined; key?: string | undefined }): Promise<number> {
  const app = appOf(opts);
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw usageError('give both --cert and --key to import a certificate, or neither to order one');
  const body: Record<string, string> = { hostname: opts.host };
  if (opts.cert !== undefined && opts.key !== undefined) Object.assign(body, { cert_pem: readPemFile('--cert', opts.cert), key_pem: readPemFile('--key', opts.key) });
  const v = await callControl<CertView>(resolveControl(opts), 'POST', appPath(app, '/certificates'), body);
  if (opts.json) {
    printJson(v);
    return 0;
  }
  const ordered = v.certificate ? `certificate: ${v.certificate.source === 'custom' ? 'imported' : 'issued'} (${v.state})` : 'its certificate is being ordered';
  console.log(`${v.hostname} is attached to app ${app} and routed at every PoP; ${ordered}.`);
  printRecords(v);
  console.log(`\nFollow it with: starling certs show ${v.hostname} --app ${app}   (or certs check, to wait for it)`);
  return 0;
}

export async function platformImport(opts: Target & { host: string; cert: string; key: string; platform: boolean }): Promise<number> {
  if (!opts.platform) return platformAdd(opts);
  const body = { cert_pem: readPemFile('--cert', opts.cert), key_pem: readPemFile('--key', opts.key) };
  const host = opts.host.toLowerCase().replace(/^\*\./, '_wildcard_.');
  const doc = await callControl<{ hostname: string; names: string[]; not_after: string; issuer: string }>(resolveControl(opts), 'PUT', `/v1/certificates/${encodeURIComponent(host)}`, body);
  if (opts.json) {
    printJson(doc);
    return 0;
  }
  console.log(`imported the platform certificate ${doc.hostname} (covers ${doc.names.join(', ')}; issuer ${doc.issuer}; expires ${shortDate(doc.not_after)}): every PoP serves it from its next handshake`);
  return 0;
}

export async function platformList(opts: Target): Promise<number> {
  const app = appOf(opts);
  const { certificates } = await callControl<{ certificates: CertView[] }>(resolveControl(opts), 'GET', appPath(app, '/certificates'));
  if (opts.json) {
    printJson(certificates);
    return 0;
  }
  const rows = [['HOSTNAME', 'KIND', 'STATE', 'ISSUER', 'NOT AFTER', 'DAYS LEFT', 'CHALLENGE']];
  for (const v of certificates) {
    const c = v.certificate;
    rows.push([v.hostname, v.kind, v.state, c ? issuerName(c.issuer) : '-', c ? shortDate(c.not_after) : '-', c ? daysText(daysLeft(c.not_after)) : '-', c?.challenge ?? (c?.source === 'custom' ? 'imported' : '-')]);
  }
  console.log(table(rows));
  for (const v of certificates) if (v.reason) console.log(`${v.hostname}: ${v.reason}`);
  return 0;
}

export async function platformShow(opts: Target & { host: string }): Promise<number> {
  const v = await callControl<CertView>(resolveControl(opts), 'GET', hostPath(appOf(opts), opts.host));
  if (opts.json) {
    printJson(v);
    return 0;
  }
  printView(v);
  return 0;
}

export const runCertsCheck = implement(certsCheck, async (opts) => {
  const wait = Number(opts.wait);
  if (!/^\d{1,3}$/.test(opts.wait) || wait > 120) throw usageError(`--wait must be a number of seconds from 0 to 120, got "${opts.wait}"`);
  const v = await callControl<CertView>(resolveControl(opts), 'POST', hostPath(appOf(opts), opts.host, `/check?wait=${wait}`), undefined, { timeoutMs: (wait + 15) * 1000 });
  if (opts.json) printJson(v);
  else printView(v);
  return v.state === 'ready' ? 0 : 1;
});

export async function platformRemove(opts: Target & { host: string }): Promise<number> {
  const app = appOf(opts);
  const r = await callControl<{ deleted: string }>(resolveControl(opts), 'DELETE', hostPath(app, opts.host));
  console.log(`${r.deleted} is detached from app ${app}: no PoP routes it or serves its certificate any more (remove its DNS records too)`);
  return 0;
}

function printView(v: CertView): void {
  const c = v.certificate;
  const lines: [string, string][] = [
    ['Hostname', `${v.hostname} (${v.kind === 'app' ? "the app's own" : 'custom domain'}, app ${v.app})`],
    ['State', v.state],
  ];
  if (v.reason) lines.push(['Why', v.reason]);
  if (c) {
    lines.push(
      ['Issuer', c.issuer],
      ['Names', c.names.join(', ')],
      ['Valid', `${c.not_before} to ${c.not_after} (${daysText(daysLeft(c.not_after))} left)`],
      ['Challenge', c.challenge ?? (c.source === 'custom' ? 'none (imported)' : 'reused authorization')],
      ['Fingerprint', c.fingerprint256],
    );
    if (c.filed_under !== v.hostname) lines.push(['Served by', `the certificate for ${c.filed_under}`]);
  }
  if (v.renewal) lines.push(['Next attempt', `${v.renewal.next_attempt_at}${v.renewal.failures > 0 ? ` (after ${v.renewal.failures} failure${v.renewal.failures === 1 ? '' : 's'})` : ''}`]);
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [k, val] of lines) console.log(`${`${k}:`.padEnd(width + 2)}${val}`);
  printRecords(v);
}

function printRecords(v: CertView): void {
  if (v.kind !== 'custom') return;
  if (v.dns_records.length === 0) {
    console.log('\nDNS: point the name at the platform\'s anycast addresses (the operator lists them in control.toml anycast_addresses).');
    return;
  }
  console.log('\nDNS records to create:');
  console.log(table([['TYPE', 'NAME', 'VALUE'], ...v.dns_records.map((r) => [r.type, r.name, r.value])]));
}

const daysLeft = (notAfter: string): number => Math.floor((Date.parse(notAfter) - Date.now()) / 86_400_000);

/** `CN=Pebble Intermediate CA 1b2c3d, O=…` → its CN, for a table column. */
function issuerName(issuer: string): string {
  return /CN=([^,]+)/.exec(issuer)?.[1] ?? issuer;
}
