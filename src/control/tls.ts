/**
 * The control plane's HTTPS certificate: the operator's (control.toml [tls] cert_file/key_file),
 * or a self-signed one made at first start and kept (tls.crt 0644, tls.key 0600 next to the
 * state), so its fingerprint — which clients and agents pin — stays the same across restarts. It
 * is valid for ten years: clients trust it by its fingerprint, not by its dates.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { isIP } from 'node:net';
import { selfSigned } from '../certs/index.js';
import { StarlingError, certFingerprint, describeError, type Logger } from '../shared/index.js';
import type { ControlConfig } from './api/control-config.js';

export interface ControlTls {
  cert: string;
  key: string;
  /** 64 hex digits: the SHA-256 of the certificate. */
  fingerprint: string;
}

const TEN_YEARS_MS = 10 * 365 * 86_400_000;

export async function loadOrCreateControlTls(config: ControlConfig, logger: Logger): Promise<ControlTls | undefined> {
  const t = config.tls;
  if (!t.enabled) {
    logger.warn('TLS is off ([tls] enabled = false): tokens and secrets cross the network in clear; clients refuse this unless the address is loopback or they pass --insecure');
    return undefined;
  }
  if (t.self_signed && !existsSync(t.cert_file)) {
    const names = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...(isIP(config.listen.host) || /^[a-z0-9.-]+$/i.test(config.listen.host) ? [config.listen.host] : [])])].filter(
      (n) => n !== '0.0.0.0' && n !== '::',
    );
    const now = Date.now();
    const pair = await selfSigned({ names, commonName: 'Starling control plane', notBefore: new Date(now - 3_600_000), notAfter: new Date(now + TEN_YEARS_MS) });
    mkdirSync(dirname(t.cert_file), { recursive: true, mode: 0o700 });
    // The key first, each written whole then renamed: a crash never leaves a cert without its key.
    writeAtomic(t.key_file, pair.keyPem, 0o600);
    writeAtomic(t.cert_file, pair.certPem, 0o644);
    logger.info('self-signed TLS certificate made', { cert: t.cert_file, sha256: certFingerprint(pair.certPem) });
  }
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(t.cert_file, 'utf8');
    key = readFileSync(t.key_file, 'utf8');
  } catch (e) {
    throw new StarlingError('ERR_CONTROL_TLS', `cannot read the TLS certificate or key ([tls] cert_file ${t.cert_file}, key_file ${t.key_file}): ${describeError(e)}`, { fault: 'user', cause: e });
  }
  try {
    const x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not belong to the certificate');
  } catch (e) {
    // Not the OpenSSL message: it could quote key material.
    throw new StarlingError('ERR_CONTROL_TLS', `[tls] cert_file ${t.cert_file} and key_file ${t.key_file} are not a certificate (PEM) and its private key`, {
      fault: 'user',
      hint: e instanceof Error && e.message.startsWith('the key') ? e.message : 'check both files are PEM',
    });
  }
  return { cert, key, fingerprint: certFingerprint(cert) };
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}
