import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { ServedBy, byHostname, daysText, openStore, shortDate, toJson, onPlatform } from './common.js';
import { platformList } from './platform.js';
import { certsList } from './meta.js';

/**
 * `starling certs list`: every certificate in the store, one line each, custom before ACME for the
 * same hostname. A damaged file is skipped by the store (it cannot hide the others).
 */
export const runCertsList = implement(certsList, async (opts) => {
  if (onPlatform(opts)) return platformList(opts);
  const store = openStore(opts);
  const certs = (await store.all()).sort(byHostname);
  const served = new ServedBy(certs);
  const now = Date.now();
  const rows = certs.map((c) => toJson(c, served.isServed(c), now));
  if (opts.json) {
    printJson(rows);
    return 0;
  }
  if (rows.length === 0) {
    console.log(`no certificates in ${store.dir}`);
    return 0;
  }
  const lines: string[][] = [['HOSTNAME', 'SOURCE', 'NAMES', 'NOT AFTER', 'DAYS LEFT', 'SERVED']];
  for (const r of rows) {
    lines.push([r.hostname, r.source, names(r.names), shortDate(r.notAfter), daysText(r.daysLeft), r.served ? 'yes' : 'no']);
  }
  console.log(table(lines));
  return 0;
});

/** At most three names, then a count: a certificate may cover a hundred. */
function names(all: readonly string[]): string {
  if (all.length <= 3) return all.join(',');
  return `${all.slice(0, 3).join(',')},+${all.length - 3} more`;
}
