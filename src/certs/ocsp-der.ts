/**
 * The few DER facts OCSP needs from a certificate, read straight from its bytes: the exact encoded
 * issuer and subject names and the public key's bits (CertID hashes them, RFC 6960 §4.1.1), its
 * serial, and whether it names an OCSP responder at all. Node-only and light: the proxy loads this
 * on start, and the ASN.1 library (./ocsp.ts) only once a certificate has an OCSP URL.
 */
import { createHash, hash } from 'node:crypto';
import { StarlingError } from '../shared/index.js';

export interface Tlv {
  /** The identifier octet (single-byte tags only: all that X.509 and OCSP use). */
  readonly tag: number;
  /** Where the TLV starts, where its contents start, and where it ends (exclusive). */
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

function malformed(what: string): StarlingError {
  return new StarlingError('ERR_OCSP_RESPONSE', `malformed DER: ${what}`);
}

/** The TLV at `pos`, inside [pos, limit). */
export function readTlv(buf: Uint8Array, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw malformed('truncated header');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tag');
  let len = buf[pos + 1] as number;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) throw malformed('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[body + i] as number);
    body += n;
  }
  const end = body + len;
  if (end > limit) throw malformed('contents past the end');
  return { tag, start: pos, body, end };
}

/** The TLVs directly inside a constructed one. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.body; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export const bytesOf = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.subarray(t.start, t.end));
export const contentsOf = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.subarray(t.body, t.end));

export interface CertFields {
  readonly der: Buffer;
  /** The serial's INTEGER contents, as encoded. */
  readonly serial: Buffer;
  /** The issuer and subject Names, whole TLVs as encoded. */
  readonly issuerName: Buffer;
  readonly subjectName: Buffer;
  /** subjectPublicKey's BIT STRING contents without the unused-bits octet (what CertID hashes). */
  readonly publicKeyBits: Buffer;
}

/** Reads the fields of a DER certificate (throws ERR_OCSP_RESPONSE when it is not one). */
export function certFields(der: Buffer): CertFields {
  const cert = readTlv(der, 0);
  const [tbs] = childrenOf(der, cert);
  if (cert.tag !== 0x30 || tbs?.tag !== 0x30) throw malformed('not a certificate');
  const f = childrenOf(der, tbs);
  const at = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version, absent for v1
  const [serial, , issuer, , subject, spki] = f.slice(at);
  if (serial?.tag !== 0x02 || issuer?.tag !== 0x30 || subject?.tag !== 0x30 || spki?.tag !== 0x30) {
    throw malformed('certificate fields');
  }
  const bits = childrenOf(der, spki)[1];
  if (bits?.tag !== 0x03 || bits.end - bits.body < 1) throw malformed('subjectPublicKey');
  return {
    der,
    serial: contentsOf(der, serial),
    issuerName: bytesOf(der, issuer),
    subjectName: bytesOf(der, subject),
    publicKeyBits: Buffer.from(der.subarray(bits.body + 1, bits.end)),
  };
}

/** The DER of every certificate in a PEM text, in order (leaf first, for a stored chain). */
export function pemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(Buffer.from(m[1] ?? '', 'base64'));
  return out;
}

/** What a certificate is known by here: SHA-256 of its DER, lower-case hex without colons. */
export function fingerprintOfDer(der: Uint8Array): string {
  return hash('sha256', der, 'hex');
}

/** Normalizes a fingerprint as Node prints it (`AB:CD:…`) to ours. */
export function normalizeFingerprint(fp: string): string {
  return fp.includes(':') ? fp.replaceAll(':', '').toLowerCase() : fp.toLowerCase();
}

export function digest(algorithm: 'sha1' | 'sha256', data: Uint8Array): Buffer {
  return createHash(algorithm).update(data).digest();
}

// accessMethod id-ad-ocsp (1.3.6.1.5.5.7.48.1) as DER, as it appears inside an AIA extension.
const ID_AD_OCSP = Buffer.from('06082b06010505073001', 'hex');

/**
 * Whether the certificate may carry an OCSP URL: a byte search for id-ad-ocsp, so a certificate
 * without one costs no parse at all. A hit is confirmed by ocspUrlOf.
 */
export function mayHaveOcspUrl(der: Buffer): boolean {
  return der.indexOf(ID_AD_OCSP) >= 0;
}

/** The first http(s) OCSP responder URL of Node's `infoAccess` text, if any. */
export function ocspUrlFromInfoAccess(infoAccess: string | undefined): string | undefined {
  for (const line of (infoAccess ?? '').split('\n')) {
    const m = /^OCSP - URI:(.+)$/.exec(line.trim());
    // Node quotes a value that has odd characters as a JSON string: those are not URLs we call.
    const url = m?.[1];
    if (url && /^https?:\/\/[^\s"]+$/i.test(url)) return url;
  }
  return undefined;
}
