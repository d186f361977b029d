import { coversName, type StoredCertificate } from '../../../certs/index.js';
import { StarlingError } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { ServedBy, describe, hostArg, openStore, toJson, type CertJson, certsDir, onPlatform } from './common.js';
import { platformShow } from './platform.js';
import { certsShow } from './meta.js';

/**
 * `starling certs show HOST`: every certificate that can answer for HOST — the ones filed under it
 * (custom and/or ACME) and any other that covers it (a wildcard, a certificate with HOST among its
 * names) — and which one the proxy presents. Never the key, never the PEM.
 */
export const runCertsShow = implement(certsShow, async (opts) => {
  if (onPlatform(opts)) return platformShow(opts);
  const host = hostArg(opts);
  const store = openStore(opts);
  const all = await store.all();
  const served = new ServedBy(all);
  const chosen = served.certificateFor(host);
  const now = Date.now();
  const matching = all
    .filter((c) => c.hostname === host || coversName(c.names, host))
    .sort((a, b) => rank(a, host, chosen) - rank(b, host, chosen) || a.hostname.localeCompare(b.hostname));
  if (matching.length === 0) {
    throw new StarlingError('ERR_CERT_NOT_FOUND', `no certificate for ${host} in ${store.dir}`, {
      fault: 'user',
      hint: `starling certs list --certs ${certsDir(opts)} shows what the store holds; get one with starling certs add ${host} or certs import`,
    });
  }
  const rows = matching.map((c) => toJson(c, c === chosen, now));
  if (opts.json) {
    printJson({ hostname: host, certificates: rows });
    return 0;
  }
  const out: string[] = [];
  const s = rows.find((r) => r.served);
  out.push(
    s
      ? `${host}: served with the ${s.source} certificate${s.hostname === host ? '' : ` filed under ${s.hostname}`}`
      : `${host}: no certificate is served for it`,
  );
  for (const r of rows) out.push('', describe(r, title(r, s)));
  console.log(out.join('\n'));
  return 0;
});

/** The served certificate first, then the ones filed under HOST (custom first), then the others. */
function rank(c: StoredCertificate, host: string, chosen: StoredCertificate | undefined): number {
  if (c === chosen) return 0;
  return (c.hostname === host ? 1 : 3) + (c.source === 'custom' ? 0 : 1);
}

function title(r: CertJson, served: CertJson | undefined): string {
  const head = `${r.source} certificate for ${r.hostname}`;
  if (r.served) return `${head} (served)`;
  if (served === undefined) return `${head} (not served)`;
  let why = 'another one is preferred';
  if (r.daysLeft < 0 || Date.parse(r.notBefore) > Date.now()) why = 'not valid now';
  else if (served.source === 'custom' && r.source === 'acme') why = 'custom certificates take priority over ACME';
  else if (served.hostname !== r.hostname && !served.hostname.startsWith('*.')) why = 'an exact name is preferred to a wildcard';
  return `${head} (not served: ${why})`;
}
