import { X509Certificate } from 'node:crypto';
import type { StoredCertificate } from '../../../certs/index.js';
import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { ServedBy, certsDir, describe, hostArg, onPlatform, openStore, readPemFile, toJson } from './common.js';
import { platformImport } from './platform.js';
import { certsImport } from './meta.js';

/**
 * `starling certs import HOST --cert FILE --key FILE`: stores a custom certificate, which the
 * proxies prefer to an ACME one for the names it covers and which is never renewed.
 *
 * The store checks it (the key belongs to the leaf, the leaf covers HOST, no key in the chain
 * file) and its errors never quote key material; this command checks its own messages once more
 * before printing them, so a key cannot reach the terminal or a CI log through it.
 */
export const runCertsImport = implement(certsImport, async (opts) => {
  if (opts.platform && opts.app !== undefined) throw usageError('--platform (a certificate for no one app) and --app cannot be used together');
  if (opts.platform || onPlatform(opts)) return platformImport(opts);
  const host = hostArg(opts);
  const certPem = readPemFile('--cert', opts.cert);
  const keyPem = readPemFile('--key', opts.key);
  const store = openStore(opts);
  const previous = await store.get(host, 'custom').catch(() => undefined);
  try {
    // names and dates are read from the certificate itself by the store
    await store.put({ hostname: host, source: 'custom', certPem, keyPem, names: [], notBefore: '', notAfter: '' });
  } catch (e) {
    throw scrubbed(e, keyPem);
  }
  const all = await store.all();
  const stored = all.find((c) => c.hostname === host && c.source === 'custom');
  if (!stored) throw new StarlingError('ERR_CERT_WRITE', `the certificate for ${host} was written but cannot be read back from ${store.dir}`);
  const served = new ServedBy(all);
  const j = toJson(stored, served.isServed(stored));
  for (const w of warnings(stored)) console.error(`warning: ${w}`);
  if (opts.json) {
    printJson(j);
    return 0;
  }
  const verb = previous ? 'replaced the custom certificate' : 'imported a custom certificate';
  console.log(describe(j, `${verb} for ${host} into ${store.dir}`));
  console.log(
    `\nIt takes priority over ACME certificates for ${j.names.join(', ')} and is never renewed: import a new one before it expires.` +
      `\nProxies sharing --certs ${certsDir(opts)} serve it from their next handshake.`,
  );
  return 0;
});

/** Things worth knowing that do not stop the import. */
function warnings(c: StoredCertificate): string[] {
  const out: string[] = [];
  const now = Date.now();
  const notAfter = Date.parse(c.notAfter);
  if (notAfter <= now) out.push(`the certificate expired on ${c.notAfter}; clients will refuse it`);
  else if (notAfter - now < 14 * 86_400_000) out.push(`the certificate expires on ${c.notAfter}, in less than 14 days`);
  if (Date.parse(c.notBefore) > now) out.push(`the certificate is not valid before ${c.notBefore}`);
  try {
    const leaf = new X509Certificate(c.certPem);
    if (leaf.issuer === leaf.subject && leaf.verify(leaf.publicKey)) {
      out.push('the certificate is self-signed: browsers will not trust it');
    } else if (!c.certPem.includes('-----BEGIN CERTIFICATE-----', 30)) {
      out.push('the file holds only the leaf: clients may need the intermediate certificates too (pass the full chain)');
    }
  } catch {
    // the store parsed it already; nothing more to say
  }
  return out;
}

/**
 * The store's errors never carry key material; this re-checks, in case a future message quotes
 * its input: any run of the key's base64 body in the message replaces the message.
 */
function scrubbed(e: unknown, keyPem: string): unknown {
  if (!isStarlingError(e)) return e;
  const body = keyPem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
  const text = `${e.message}\n${e.hint ?? ''}`;
  if (!text.includes('PRIVATE KEY') && !body.some((l) => text.includes(l.slice(0, 16)))) return e;
  return new StarlingError(e.code, 'the certificate or key was refused (details withheld: they quoted key material)', {
    fault: e.fault,
  });
}
