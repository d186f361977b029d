import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { AcmeIssuer, type StoredCertificate } from '../../../certs/index.js';
import type { ChallengeType } from '../../../certs/index.js';
import { StarlingError, describeError, isStarlingError, stderrLogger } from '../../../shared/index.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { ServedBy, certsDir, describe, hostArg, onPlatform, openStore, readPemFile, storeExists, toJson } from './common.js';
import { platformAdd } from './platform.js';
import { certsAdd } from './meta.js';

/**
 * `starling certs add HOST`: orders a certificate from an ACME CA into the store. This process
 * only places the order: the CA's validation request reaches a PoP (any of them, with anycast),
 * whose proxy answers it from the same shared store, so at least one proxy with `--tls-listen`
 * must be running on that store. TLS-ALPN-01 first; when it fails or is not offered, HTTP-01.
 */
export const runCertsAdd = implement(certsAdd, async (opts) => {
  if (onPlatform(opts)) return platformAdd({ ...opts, host: opts.host });
  if (opts.cert !== undefined || opts.key !== undefined) throw usageError('--cert and --key import for an app (--app); for the host-local store use starling certs import HOST --cert FILE --key FILE --certs DIR');
  const host = hostArg(opts);
  if (host.startsWith('*.')) {
    throw new StarlingError('ERR_ACME_WILDCARD', `${host}: a wildcard needs DNS-01, which the host-local store cannot answer`, {
      fault: 'user',
      hint: `on the platform: starling certs add ${host} --app APP (with [acme.dns01] in control.toml); here: import a custom certificate (starling certs import ${host} --cert FILE --key FILE), or add each name`,
    });
  }
  const directoryUrl = opts['acme-directory'];
  if (directoryUrl === undefined) {
    throw usageError(
      'missing --acme-directory URL (host-local store) or --app APP (the control plane orders it)',
      "for an app: starling certs add HOST --app APP; for proxy serve's store, Let's Encrypt: --acme-directory https://acme-v02.api.letsencrypt.org/directory",
    );
  }
  if (!URL.canParse(directoryUrl)) {
    throw usageError(
      `--acme-directory must be a URL, got "${directoryUrl}"`,
      "Let's Encrypt: --acme-directory https://acme-v02.api.letsencrypt.org/directory (staging: acme-staging-v02)",
    );
  }
  const { challenge } = opts;
  const caFile = opts['acme-ca'];
  const caBundlePem = caFile !== undefined ? readPemFile('--acme-ca', caFile) : undefined;
  // acme-client retries an unreachable CA for minutes and then reports it obscurely: look first.
  const unreachable = await probe(directoryUrl, caBundlePem);
  if (unreachable !== undefined) throw unreachableError(host, directoryUrl, unreachable);
  const store = openStore(opts);
  const dir = certsDir(opts);
  if (!storeExists(store)) {
    console.error(`warning: ${store.dir} holds no store yet; the CA's validation needs a proxy started with --tls-listen and --certs ${dir}`);
  }
  if (await store.get(host, 'custom').catch(() => undefined)) {
    console.error(`note: a custom certificate for ${host} exists and stays in service: custom certificates take priority over ACME`);
  }

  const order: ChallengeType[] = challenge === undefined ? ['tls-alpn-01', 'http-01'] : [challenge];
  const logger = stderrLogger('warn');
  const email = opts['acme-email'];
  const failures: Failure[] = [];
  let got: { cert: StoredCertificate; used: ChallengeType } | undefined;
  for (const [i, type] of order.entries()) {
    console.error(`ordering a certificate for ${host} from ${directoryUrl} (${type}) …`);
    const issuer = new AcmeIssuer({ directoryUrl, email, store, logger, caBundlePem, challengePriority: [type] });
    try {
      got = { cert: await issuer.issue(host), used: type };
      break;
    } catch (e) {
      // Only a failed or refused challenge is worth another try with the other type.
      if (!isStarlingError(e, 'ERR_ACME_CHALLENGE')) throw explain(e, host);
      failures.push({ type, error: e });
      if (i < order.length - 1) console.error(`${type} did not work: ${e.message}`);
    }
  }
  if (got === undefined) throw explainChallenges(failures, host, dir);
  const { cert, used } = got;

  const stored = await store.all();
  const mine = stored.find((c) => c.hostname === cert.hostname && c.source === 'acme') ?? cert;
  const j = toJson(mine, new ServedBy(stored).isServed(mine));
  if (opts.json) {
    printJson({ ...j, challenge: used });
    return 0;
  }
  console.log(describe(j, `issued a certificate for ${host} by ${used}, stored in ${store.dir}`));
  console.log(
    j.served
      ? `\nProxies sharing --certs ${dir} serve it from their next handshake; proxies run with --acme-directory renew it.`
      : `\nIt is not served while the custom certificate for ${host} exists (custom certificates take priority).`,
  );
  return 0;
});

/** An error that stopped the order outside a challenge (the CA refused it, or went away). */
function explain(e: unknown, host: string): unknown {
  if (isStarlingError(e) && e.fault === 'user') return e; // a name the CA cannot validate: its own words say it
  return new StarlingError(isStarlingError(e) ? e.code : 'ERR_ACME_ORDER', `cannot get a certificate for ${host}: ${describeError(e)}`, {
    cause: e,
    hint: "the CA's answer above says why (rate limit, policy, a name it will not issue for); nothing was stored",
  });
}

function unreachableError(host: string, directoryUrl: string, why: string): StarlingError {
  const untrusted = /certificate|CERT_|UNABLE_TO/i.test(why);
  return new StarlingError('ERR_ACME_DIRECTORY', `cannot get a certificate for ${host}: the ACME directory ${directoryUrl} ${why}`, {
    hint: untrusted
      ? "the ACME server's HTTPS certificate is not trusted: for a test CA such as Pebble, pass its CA with --acme-ca FILE"
      : 'check --acme-directory: is the CA reachable from here?',
  });
}

/** Why `directoryUrl` cannot be used (`cannot be reached: ECONNREFUSED`, …), or undefined when it answers. */
function probe(directoryUrl: string, caPem: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const ca = caPem === undefined ? undefined : [...tls.rootCertificates, caPem];
    const get = directoryUrl.startsWith('https:') ? https.get : http.get;
    const req = get(directoryUrl, { ca, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      const ok = res.statusCode === 200 && /json/.test(String(res.headers['content-type']));
      resolve(ok ? undefined : `answers HTTP ${res.statusCode ?? '?'} ${String(res.headers['content-type'] ?? '')}, not an ACME directory`);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) => resolve(`cannot be reached: ${describeError(err)}`));
  });
}

interface Failure {
  type: ChallengeType;
  error: StarlingError;
}

/** Every challenge type tried failed: say what each needs from the proxies. */
function explainChallenges(failures: readonly Failure[], host: string, dir: string): StarlingError {
  const message = `cannot get a certificate for ${host}: ${failures.map((f) => f.error.message).join('; then ')}`;
  const tried = new Set(failures.map((f) => f.type));
  const needs: string[] = [];
  if (tried.has('tls-alpn-01')) needs.push("--tls-listen on port 443 (or the CA's tlsPort)");
  if (tried.has('http-01')) {
    needs.push(`--listen on port 80 (or the CA's httpPort)${tried.has('tls-alpn-01') ? '' : ' and --tls-listen (which turns the HTTP-01 answers on)'}`);
  }
  const hint = `is a proxy running with ${needs.join(' and ')} sharing --certs ${dir}, and does ${host} resolve to it?`;
  return new StarlingError('ERR_ACME_CHALLENGE', message, { cause: failures.at(-1)?.error, hint });
}
