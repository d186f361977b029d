/**
 * The lab's certificate authority: Pebble (Let's Encrypt's test ACME server, Debian `pebble`) and
 * pebble-challtestsrv as the DNS it resolves names with, both daemons of the lab in the control
 * plane's namespace — nothing of them listens on the host.
 *
 *   pebble               ACME at https://<control address>:14000/dir, management API at :15000
 *                        (`/roots/0` is the root it issues under: a new one per start). It validates
 *                        HTTP-01 on port 80 and TLS-ALPN-01 on port 443 of the address a name resolves
 *                        to: the agents' plain and TLS ports.
 *   pebble-challtestsrv  DNS only, at <control address>:8053: every name → the anycast service
 *                        address, no AAAA. So a validation leaves the control namespace, travels the
 *                        lab's BGP routing to the PoP nearest the CA, and that PoP's agent answers
 *                        it from its feed, as a real CA's validation reaches a real platform.
 *
 * Pebble's own HTTPS needs a certificate: a throwaway CA and a leaf for the control address, made
 * here with @peculiar/x509 (src/certs selfSigned), written under `<lab>/ca/` (the key 0600) with the
 * CA's PEM, which the control plane's `[acme] ca_file` trusts. The issuing root is written to
 * `<lab>/ca/root.pem` once Pebble answers: what the lab's clients (lab curl, the HTTPS prober) trust.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSigned } from '../certs/index.js';
import { StarlingError } from '../shared/index.js';
import { isRecordedAlive } from './lab-state.js';
import { caDir, labRootPath, logTail, recorded, startDaemon, what, type LabContext } from './lab-context.js';
import { getInLab, until } from './probe.js';

export const PEBBLE_BIN = '/usr/bin/pebble';
export const CHALLTESTSRV_BIN = '/usr/bin/pebble-challtestsrv';
export const PEBBLE_ACME_PORT = 14000;
export const PEBBLE_MANAGEMENT_PORT = 15000;
export const LAB_DNS_PORT = 8053;
/** The agents' ports, where Pebble validates HTTP-01 and TLS-ALPN-01. */
export const LAB_HTTP_PORT = 80;
export const LAB_TLS_PORT = 443;

export interface LabCa {
  directoryUrl: string;
  /** The PEM file of the CA of Pebble's own listener certificate ([acme] ca_file). */
  listenerCaFile: string;
}

/** Where the lab's CA is, from its plan (the same before and after it starts). */
export function labCa(ctx: Pick<LabContext, 'dir' | 'plan'>): LabCa {
  return { directoryUrl: `https://${ctx.plan.control.address}:${PEBBLE_ACME_PORT}/dir`, listenerCaFile: join(caDir(ctx), 'listener-ca.pem') };
}

export const pebbleLog = (ctx: Pick<LabContext, 'dir'>): string => join(caDir(ctx), 'pebble.log');
export const challtestsrvLog = (ctx: Pick<LabContext, 'dir'>): string => join(caDir(ctx), 'challtestsrv.log');

/** Pebble's issuing root (PEM), as recorded at lab up; ERR_LAB_CONTROL when there is none. */
export function labRootPem(ctx: Pick<LabContext, 'dir' | 'name'>): string {
  try {
    return readFileSync(labRootPath(ctx), 'utf8');
  } catch (e) {
    throw new StarlingError('ERR_LAB_CONTROL', `lab ${ctx.name} has no recorded Pebble root (${labRootPath(ctx)}): ${(e as Error).message}`, {
      cause: e,
      hint: 'was this lab brought up before the lab had a CA? take it down and up again',
    });
  }
}

/** What an HTTPS prober of the lab is given to trust Pebble's root (ERR_LAB_CONTROL when none was recorded). */
export function labTrust(ctx: Pick<LabContext, 'dir' | 'name'>): { caFile: string } {
  labRootPem(ctx);
  return { caFile: labRootPath(ctx) };
}

/** Starts challtestsrv and Pebble in the control namespace; resolves once Pebble's root is recorded. */
export async function startCa(ctx: LabContext, timeoutMs = 20_000): Promise<LabCa> {
  for (const bin of [PEBBLE_BIN, CHALLTESTSRV_BIN]) {
    if (!existsSync(bin)) throw new StarlingError('ERR_LAB_SPAWN', `${bin} is missing: the lab's CA is Pebble`, { fault: 'user', hint: 'apt-get install -y pebble (or npm run setup)' });
  }
  const dir = caDir(ctx);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { control, serviceAddress } = ctx.plan;
  const ca = labCa(ctx);
  // Pebble's listener: a one-lab CA (its key is not kept) and a leaf for the control address.
  const issuer = await selfSigned({ names: [], ca: true, commonName: `Starling lab ${ctx.name}: Pebble listener CA` });
  const leaf = await selfSigned({ names: [control.address, '127.0.0.1', 'localhost'], issuer });
  writeFileSync(ca.listenerCaFile, issuer.certPem, { mode: 0o644 });
  writeFileSync(join(dir, 'listener.pem'), leaf.certPem + issuer.certPem, { mode: 0o644 });
  writeFileSync(join(dir, 'listener.key'), leaf.keyPem, { mode: 0o600 });
  const config = join(dir, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify(
      {
        pebble: {
          listenAddress: `${control.address}:${PEBBLE_ACME_PORT}`,
          managementListenAddress: `${control.address}:${PEBBLE_MANAGEMENT_PORT}`,
          certificate: join(dir, 'listener.pem'),
          privateKey: join(dir, 'listener.key'),
          httpPort: LAB_HTTP_PORT,
          tlsPort: LAB_TLS_PORT,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      },
      null,
      2,
    ) + '\n',
    { mode: 0o600 },
  );
  const dns = `${control.address}:${LAB_DNS_PORT}`;
  // DNS only (its HTTP-01/TLS-ALPN-01 responders would answer for the agents); management on the namespace's loopback.
  startDaemon(
    ctx,
    control.ns,
    [CHALLTESTSRV_BIN, '-dns01', dns, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', '127.0.0.1:8055', '-defaultIPv4', serviceAddress, '-defaultIPv6', ''],
    what.challtestsrv(),
    challtestsrvLog(ctx),
  );
  // No random 0-15 s sleep before validating; no deliberate badNonce answers.
  startDaemon(ctx, control.ns, [PEBBLE_BIN, '-config', config, '-dnsserver', dns, '-strict=false'], what.pebble(), pebbleLog(ctx), {
    env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  let root = '';
  let last = '';
  await until(
    ctx.clock,
    async () => {
      for (const [name, log] of [[what.challtestsrv(), challtestsrvLog(ctx)], [what.pebble(), pebbleLog(ctx)]] as const) {
        const p = recorded(ctx, name);
        if (!p || !isRecordedAlive(p)) throw new StarlingError('ERR_LAB_SPAWN', `${name} exited at start:\n${logTail(log)}`);
      }
      const [r] = await getInLab(control.ns, [`https://${control.address}:${PEBBLE_MANAGEMENT_PORT}/roots/0`], { caFile: ca.listenerCaFile, timeoutMs: 1000 });
      last = r?.error ?? `HTTP ${r?.status ?? '?'}`;
      if (r?.status !== 200 || !r.body.includes('BEGIN CERTIFICATE')) return false;
      root = r.body;
      return true;
    },
    "Pebble's management API to hand out its root",
    timeoutMs,
    100,
    () => `last answer: ${last}\n${logTail(pebbleLog(ctx))}`,
  );
  writeFileSync(labRootPath(ctx), root.endsWith('\n') ? root : `${root}\n`, { mode: 0o644 });
  return ca;
}
