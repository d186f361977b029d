import https from 'node:https';
import net from 'node:net';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

/**
 * Tier-3 launcher for Pebble, Let's Encrypt's test CA (Debian package `pebble`), and
 * pebble-challtestsrv as its DNS server (every name → 127.0.0.1), everything on loopback.
 *
 * Facts about the Debian package: it ships no test certificates and no default config, so the
 * listener's CA and localhost certificate are generated here with openssl. Pebble validates
 * challenges on the `httpPort`/`tlsPort` of its config, so those are where the responder listens.
 * Env: PEBBLE_VA_NOSLEEP=1 (no random 0–15 s sleep before validating), PEBBLE_WFE_NONCEREJECT=0
 * (no deliberate badNonce), PEBBLE_AUTHZREUSE=0 (every order really validates).
 * With `dnsServer` ("127.0.0.1:PORT", e.g. a bind9 from ./bind9.ts) Pebble resolves through that
 * server instead, and pebble-challtestsrv is not started.
 */
export interface Pebble {
  directoryUrl: string;
  /** The CA of Pebble's own HTTPS listeners (ACME and management): trust it to talk to Pebble. */
  caPem: string;
  /** The same CA as a file (in Pebble's own temp dir, removed by stop()): a control.toml's `[acme] ca_file`. */
  caFile: string;
  /** control.toml's `[acme]` table for this Pebble: `challenges` in order, and short retries (1 s doubling to `retryMax`). */
  acmeToml(o: { challenges: string[]; retryMax?: string }): string;
  /** The root Pebble issues under (a new one per start), from its management API. */
  issuingRootPem(): Promise<string>;
  /** Everything both daemons printed so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const INSTALL = 'apt-get install -y pebble (or npm run setup)';
const run = promisify(execFile);

export async function startPebble(opts: {
  httpPort: number;
  tlsPort: number;
  /** Resolve names (and DNS-01 TXT records) at this server instead of pebble-challtestsrv. */
  dnsServer?: string;
  /** Lifetime of issued certificates (Pebble's default: 5 years). */
  validitySeconds?: number;
}): Promise<Pebble> {
  const pebbleBin = which('pebble');
  const challBin = which('pebble-challtestsrv');
  const opensslBin = which('openssl');
  if (!pebbleBin || !challBin) throw new Error(`pebble and pebble-challtestsrv are needed for this test: ${INSTALL}`);
  if (!opensslBin) throw new Error('openssl is needed to make Pebble\'s listener certificate: apt-get install -y openssl');

  const dir = mkdtempSync(join(tmpdir(), 'starling-pebble-'));
  const children: ChildProcess[] = [];
  let log = '';
  const killAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.once('exit', killAll);
  try {
    await makeListenerCert(opensslBin, dir);
    const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const [acmePort, mgmtPort, dnsPort, challMgmtPort] = await freePorts(4);
    writeFileSync(
      join(dir, 'pebble-config.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: join(dir, 'cert.pem'),
          privateKey: join(dir, 'key.pem'),
          httpPort: opts.httpPort,
          tlsPort: opts.tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
          ...(opts.validitySeconds !== undefined ? { certificateValidityPeriod: opts.validitySeconds } : {}),
        },
      }),
    );
    const start = (bin: string, args: string[], env: Record<string, string> = {}) => {
      const child = spawn(bin, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      children.push(child);
      return child;
    };
    // Only the DNS server: the challenge servers it starts by default would take ports and answer
    // for us; AAAA queries get no answer so validation connects to 127.0.0.1 only.
    if (opts.dnsServer === undefined) {
      start(challBin, [
        '-dns01', `127.0.0.1:${dnsPort}`,
        '-http01', '', '-https01', '', '-tlsalpn01', '',
        '-management', `127.0.0.1:${challMgmtPort}`,
        '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
      ]);
    }
    const dnsServer = opts.dnsServer ?? `127.0.0.1:${dnsPort}`;
    start(pebbleBin, ['-config', join(dir, 'pebble-config.json'), '-dnsserver', dnsServer, '-strict=false'], {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: '0',
    });
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(
      async () => {
        const exited = children.find((c) => c.exitCode !== null || c.signalCode !== null);
        if (exited) throw new Error(`${exited.spawnfile} exited during start-up:\n${log}`);
        return (await get(directoryUrl, caPem).catch(() => undefined))?.status === 200;
      },
      "Pebble's directory to answer",
      15_000,
      50,
    );
    return {
      directoryUrl,
      caPem,
      caFile: join(dir, 'ca.pem'),
      acmeToml: ({ challenges, retryMax = '4s' }) =>
        `[acme]\ndirectory_url = "${directoryUrl}"\nca_file = "${join(dir, 'ca.pem')}"\nchallenges = ${JSON.stringify(challenges)}\nretry_initial = "1s"\nretry_max = "${retryMax}"\n`,
      issuingRootPem: async () => {
        const r = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, caPem);
        if (r.status !== 200) throw new Error(`Pebble's management API answered ${r.status} for /roots/0`);
        return r.body;
      },
      output: () => log,
      stop: async () => {
        await Promise.all(children.map(stopChild));
        process.off('exit', killAll);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(children.map(stopChild));
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** A throwaway CA and a certificate for localhost/127.0.0.1 signed by it (ECDSA P-256, 1 day). */
async function makeListenerCert(openssl: string, dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run(openssl, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1',
    '-subj', '/CN=Starling test: Pebble listener CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { cwd: dir });
  await run(openssl, ['req', '-new', ...ec, '-keyout', 'key.pem', '-out', 'cert.csr', '-subj', '/CN=localhost'], { cwd: dir });
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await run(openssl, ['x509', '-req', '-in', 'cert.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '1',
    '-days', '1', '-extfile', 'ext.cnf', '-out', 'cert.pem'], { cwd: dir });
}

function which(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/bin').split(delimiter)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

/** Distinct free TCP ports on 127.0.0.1 (held open together, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
