/**
 * What the `starling certs …` commands share: the `--certs DIR` store, hostname arguments, the JSON
 * shape of a certificate (documented in the README; keys are stable).
 *
 * No output here ever carries key material: summaries are built field by field from the public
 * parts of a StoredCertificate, never by spreading it.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateIndex, FileCertStore, type CertSource, type StoredCertificate } from '../../../certs/index.js';
import { checkHostname } from '../../../certs/index.js';
import { silentLogger } from '../../../shared/index.js';
import { usageError } from '../../kit/index.js';
import { DEFAULT_CERTS_DIR, LOCAL_ONLY } from './meta.js';

/** The file store behind `--certs DIR`; it logs nothing (the commands say what happened themselves). */
export function openStore(opts: { certs?: string | undefined }): FileCertStore {
  return new FileCertStore(certsDir(opts), { logger: silentLogger });
}

/** `--certs DIR`, else the default store of `starling proxy serve`. */
export function certsDir(opts: { certs?: string | undefined }): string {
  return opts.certs ?? DEFAULT_CERTS_DIR;
}

/**
 * Where a certs verb acts: the control plane when an app is named (and nothing host-local is),
 * else the host-local store. Both at once is a usage error rather than a guess.
 */
export function onPlatform(opts: { app?: string | undefined } & Partial<Record<(typeof LOCAL_ONLY)[number], unknown>>): boolean {
  const local = LOCAL_ONLY.filter((k) => opts[k] !== undefined).map((k) => `--${k}`);
  if (opts.app === undefined) return false;
  if (local.length > 0) {
    throw usageError(`--app (the control plane) and ${local.join(', ')} (the host-local store) cannot be used together`, 'drop --app to act on the store of proxy serve, or drop the host-local flags to act on the app');
  }
  return true;
}

/** Whether DIR looks like a store something has used (a proxy with --tls-listen creates certs/). */
export function storeExists(store: FileCertStore): boolean {
  return existsSync(join(store.dir, 'certs'));
}

/** The HOST argument, lower-cased and checked (exit 2 when it is not a hostname). */
export function hostArg(opts: { host: string }): string {
  return checkHostname(opts.host);
}

/** Reads a PEM file named by a flag; the error names the flag and the path, never the content. */
export function readPemFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
  }
}

/** One certificate as `--json` prints it. Every key is always present. */
export interface CertJson {
  hostname: string;
  source: CertSource;
  names: string[];
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter, rounded down: negative once expired. */
  daysLeft: number;
  /** The leaf's issuer, as `CN=…, O=…`. */
  issuer: string;
  fingerprint256: string;
  /** Whether the proxy presents this certificate (for its own hostname, or the HOST asked about). */
  served: boolean;
}

const DAY_MS = 86_400_000;

export function daysLeft(notAfter: string, now = Date.now()): number {
  return Math.floor((Date.parse(notAfter) - now) / DAY_MS);
}

export function toJson(c: StoredCertificate, served: boolean, now = Date.now()): CertJson {
  let issuer = '';
  let fingerprint256 = '';
  try {
    const leaf = new X509Certificate(c.certPem);
    issuer = leaf.issuer.split('\n').join(', ');
    fingerprint256 = leaf.fingerprint256;
  } catch {
    // stored certificates were parsed when stored; leave the facts empty rather than fail a listing
  }
  return {
    hostname: c.hostname,
    source: c.source,
    names: [...c.names],
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    daysLeft: daysLeft(c.notAfter, now),
    issuer,
    fingerprint256,
    served,
  };
}

/**
 * Which certificate the proxy presents, by the proxy's own rules (CertificateIndex: a valid
 * certificate before an expired one, exact name before wildcard, custom before ACME).
 */
export class ServedBy {
  private readonly index: CertificateIndex;

  constructor(certs: readonly StoredCertificate[]) {
    this.index = CertificateIndex.from(certs);
  }

  /** The certificate presented for `name`; for `*.example.com`, for a name one label under it. */
  certificateFor(name: string): StoredCertificate | undefined {
    // SNI never carries `*`: ask for a name the wildcard covers (an exact certificate for this
    // made-up label would win, which is what a real client asking for it would get too).
    const probe = name.startsWith('*.') ? `starling-probe${name.slice(1)}` : name;
    return this.index.certificateFor(probe);
  }

  isServed(c: StoredCertificate): boolean {
    return this.certificateFor(c.hostname) === c;
  }
}

/** Custom before ACME (the order the proxy prefers them in), then by hostname. */
export function byHostname(a: StoredCertificate, b: StoredCertificate): number {
  return a.hostname.localeCompare(b.hostname) || (a.source === b.source ? 0 : a.source === 'custom' ? -1 : 1);
}

/** `2025-01-31 12:00 UTC` */
export function shortDate(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function daysText(days: number): string {
  return days < 0 ? 'expired' : String(days);
}

/** The key facts of one certificate, indented under a title line (for add, import and show). */
export function describe(j: CertJson, title: string): string {
  const left = j.daysLeft < 0 ? 'expired' : `${j.daysLeft} days left`;
  return [
    title,
    `  names       ${j.names.join(', ') || '(none)'}`,
    `  not before  ${shortDate(j.notBefore)}`,
    `  not after   ${shortDate(j.notAfter)} (${left})`,
    `  issuer      ${j.issuer || '(unknown)'}`,
    `  sha-256     ${j.fingerprint256 || '(unknown)'}`,
  ].join('\n');
}
