/**
 * How a CLI outside the lab reaches the lab's control plane (`--lab NAME`, `starling lab use`).
 * The control plane listens inside its own namespace (10.128.255.2:9300), which the host cannot
 * route to, and a normal user's lab lives in a user namespace besides. So each connection is a
 * relay process the CLI starts inside that namespace (src/cli/lab-target.ts), its stdio the
 * connection: TLS and the token travel end to end through it, nothing listens on the host, and
 * nothing on the host's routing changes.
 *
 * `labControlAccess` runs where the lab's files are (root, or inside the holder: the lab commands
 * re-run themselves there) and says what a client needs: the URL, the certificate to pin, the
 * operator's token and the namespace.
 */
import { readFileSync } from 'node:fs';
import { StarlingError, certFingerprint } from '../shared/index.js';
import { APPS_DOMAIN, controlCert, controlUserToken, type LabContext } from './lab-context.js';

export interface LabControlAccess {
  lab: string;
  /** https://10.128.255.2:9300: reachable only through a relay. */
  controlUrl: string;
  /** SHA-256 of the control plane's certificate (64 hex digits). */
  fingerprint: string;
  /** The lab operator's API token. */
  token: string;
  /** The control plane's network namespace. */
  netns: string;
  /** Apps answer at `<app>.<appsDomain>` on the anycast service address. */
  appsDomain: string;
  serviceAddress: string;
}

/** What a client needs to reach a running lab's control plane (from openLab, or lab up's context). */
export function labControlAccess(ctx: Pick<LabContext, 'name' | 'dir' | 'plan'>): LabControlAccess {
  const { control } = ctx.plan;
  let fingerprint: string;
  let token: string;
  try {
    fingerprint = certFingerprint(readFileSync(controlCert(ctx), 'utf8'));
    token = readFileSync(controlUserToken(ctx), 'utf8').trim();
  } catch (e) {
    throw new StarlingError('ERR_LAB_CONTROL', `lab ${ctx.name}'s control plane has not made its certificate and token (${(e as Error).message})`, {
      cause: e,
      hint: 'is the lab up? starling lab status',
    });
  }
  return { lab: ctx.name, controlUrl: control.url, fingerprint, token, netns: control.ns, appsDomain: APPS_DOMAIN, serviceAddress: ctx.plan.serviceAddress };
}
