/**
 * Certificates made on the spot with @peculiar/x509 (ECDSA P-256, SHA-256): the optional default
 * certificate for handshakes without SNI or with an unknown name, and quick certificates for tests
 * (a CA, and leaves signed by it, so a test can build a chain and verify it against a root).
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';

export interface KeyPairPem {
  /** The certificate alone (PEM); for a leaf signed by an issuer, append the issuer's chain yourself. */
  certPem: string;
  /** PKCS#8 PEM private key. */
  keyPem: string;
}

export interface SelfSignedOptions {
  /** DNS names (or IP addresses) for subjectAltName; the first is also the subject CN. */
  names: string[];
  /** Default: one hour ago (allows for clock skew between hosts). */
  notBefore?: Date;
  /** Default: `notBefore` + 90 days. */
  notAfter?: Date;
  /** Sign with this CA instead of self-signing. Its key must be ECDSA P-256 (as `selfSigned` makes). */
  issuer?: KeyPairPem;
  /** Make a CA certificate (basicConstraints cA, keyCertSign) instead of a server leaf. */
  ca?: boolean;
  /** Subject CN; default `names[0]`, or "Starling Test CA" for a CA without names. */
  commonName?: string;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

// @peculiar/x509 takes its WebCrypto from a global provider; Node has a complete one built in.
// The library's declarations name the DOM's Crypto, CryptoKey and CryptoKeyPair, which this
// project's lib (ES2024, no DOM) does not declare, so its parameters take anything; this file types
// the values it hands over with Node's webcrypto, which is what the library runs on.
const crypto: webcrypto.Crypto = webcrypto;
/** The library is big and only certificate-making code needs it: loaded on first use. */
let loaded: Promise<typeof X509> | undefined;
function library(): Promise<typeof X509> {
  loaded ??= import('@peculiar/x509').then((x) => {
    x.cryptoProvider.set(crypto);
    return x;
  });
  return loaded;
}

/** Makes a certificate and a fresh P-256 key: self-signed, or signed by `opts.issuer`. */
export async function selfSigned(opts: SelfSignedOptions): Promise<KeyPairPem> {
  const x509 = await library();
  const c = crypto;
  const keys = await c.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const notBefore = opts.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 90 * DAY_MS);
  const cn = opts.commonName ?? opts.names[0] ?? (opts.ca ? 'Starling Test CA' : undefined);
  if (cn === undefined) throw new TypeError('selfSigned needs at least one name or a commonName');
  const subject: X509.JsonName = [{ CN: [cn] }];

  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.ca === true, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, c),
  ];
  if (opts.ca) {
    extensions.push(
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    );
  } else {
    extensions.push(
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    );
  }
  if (opts.names.length > 0) {
    const general = opts.names.map((n) => ({ type: isIP(n) ? ('ip' as const) : ('dns' as const), value: n }));
    extensions.push(new x509.SubjectAlternativeNameExtension(general));
  }

  // A positive serial of 16 random bytes (RFC 5280 §4.1.2.2: at most 20 octets, non-negative).
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const base = { serialNumber: serial.toString('hex'), notBefore, notAfter, signingAlgorithm: SIGN, extensions };

  let cert: X509.X509Certificate;
  if (opts.issuer) {
    const issuerCert = new x509.X509Certificate(opts.issuer.certPem);
    const signingKey = await importSigningKey(opts.issuer.keyPem, c);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert, false, c));
    cert = await x509.X509CertificateGenerator.create(
      { ...base, subject, issuer: issuerCert.subjectName, publicKey: keys.publicKey, signingKey },
      c,
    );
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ ...base, name: subject, keys }, c);
  }
  const pkcs8 = Buffer.from(await c.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/**
 * The default certificate a proxy may present when a handshake names no known host. Valid for a
 * year; regenerated at each start (it is not meant to be trusted, only to let a handshake finish).
 */
export function defaultSelfSigned(names: string[]): Promise<KeyPairPem> {
  const notBefore = new Date(Date.now() - 3_600_000);
  return selfSigned({
    names,
    commonName: names[0] ?? 'starling-default',
    notBefore,
    notAfter: new Date(notBefore.getTime() + 365 * DAY_MS),
  });
}

async function importSigningKey(keyPem: string, c: webcrypto.Crypto): Promise<webcrypto.CryptoKey> {
  // Accepts PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM: node:crypto normalises it to PKCS#8 DER.
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return c.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
