/**
 * OCSP (RFC 6960) for stapling, I/O-free: the request for a certificate, and the checks a response
 * must pass before the proxy hands it to clients. The ASN.1 structures are @peculiar/asn1-ocsp's;
 * what is signed or hashed (tbsResponseData, names, keys, certificates) is taken as the exact bytes
 * received (./ocsp-der.ts), never re-encoded.
 *
 * A response is accepted only when it is `successful`, of type id-pkix-ocsp-basic, signed by the
 * issuer itself or by a responder certificate the issuer signed with id-kp-OCSPSigning in its
 * extended key usage (§4.2.2.2), and has a SingleResponse for our CertID with thisUpdate not in the
 * future and nextUpdate (when present) not passed. Its status is then reported as it is: the
 * stapler staples `good` only.
 */
import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import {
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  ResponseData,
  TBSRequest,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
} from '@peculiar/asn1-ocsp';
import { StarlingError, type ErrorCode } from '../shared/index.js';
import { certFields, childrenOf, contentsOf, digest, ocspUrlFromInfoAccess, pemCertificates, readTlv, type CertFields } from './ocsp-der.js';

const SHA1 = '1.3.14.3.2.26';
const SHA256 = '2.16.840.1.101.3.4.2.1';
/** Signature algorithms a response may use → the digest node:crypto verifies with (null: EdDSA). */
const SIGNATURE_DIGESTS: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};
/** How far a responder's clock may run ahead of ours (thisUpdate in the future). */
const CLOCK_SKEW_MS = 5 * 60_000;

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

/** A certificate to ask about: the leaf, its issuer, where to ask, and the request to send. */
export interface OcspTarget {
  readonly url: string;
  readonly leaf: CertFields;
  readonly issuer: CertFields;
  readonly issuerX509: X509Certificate;
  /** The DER OCSPRequest (one CertID, SHA-1, no nonce: stapled answers are shared by all clients). */
  readonly request: Buffer;
}

export interface OcspAnswer {
  readonly status: OcspCertStatus;
  /** Milliseconds since the epoch. */
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly producedAt: number;
  readonly revokedAt: number | undefined;
  /** The whole OCSPResponse, as received: what is stapled. */
  readonly der: Buffer;
}

function fail(code: ErrorCode, message: string): StarlingError {
  return new StarlingError(code, message);
}

/**
 * What to ask about a PEM chain (leaf first), or undefined when the leaf names no http(s) OCSP
 * responder. Throws ERR_OCSP_CHAIN when it does but the chain holds no issuer for it.
 */
export function ocspTarget(certPem: string): OcspTarget | undefined {
  const [leafDer, ...rest] = pemCertificates(certPem);
  if (!leafDer) return undefined;
  const leaf509 = new X509Certificate(leafDer);
  const url = ocspUrlFromInfoAccess(leaf509.infoAccess);
  if (!url) return undefined;
  const issuerDer = rest.find((d) => {
    const c = new X509Certificate(d);
    return leaf509.checkIssued(c) && leaf509.verify(c.publicKey);
  });
  if (!issuerDer) throw fail('ERR_OCSP_CHAIN', `the certificate for ${leaf509.subject.replace(/\n/g, ', ')} names an OCSP responder but its chain has no issuer`);
  const leaf = certFields(leafDer);
  const issuer = certFields(issuerDer);
  return { url, leaf, issuer, issuerX509: new X509Certificate(issuerDer), request: ocspRequest(leaf, issuer) };
}

/** The DER OCSPRequest for `leaf` issued by `issuer`. */
export function ocspRequest(leaf: CertFields, issuer: CertFields): Buffer {
  const reqCert = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
    issuerNameHash: new OctetString(digest('sha1', issuer.subjectName)),
    issuerKeyHash: new OctetString(digest('sha1', issuer.publicKeyBits)),
    serialNumber: toArrayBuffer(leaf.serial),
  });
  const req = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert })] }) });
  return Buffer.from(AsnConvert.serialize(req));
}

/**
 * Parses and checks a DER OCSPResponse for `target` at time `now`. Throws ERR_OCSP_RESPONSE (not
 * a successful basic response, or malformed), ERR_OCSP_SIGNATURE (not signed by the issuer or its
 * authorized responder), ERR_OCSP_MISMATCH (nothing about our certificate) or ERR_OCSP_STALE
 * (thisUpdate in the future, or nextUpdate passed).
 */
export function parseOcspResponse(der: Uint8Array, target: OcspTarget, now: number): OcspAnswer {
  let outer: OCSPResponse;
  try {
    outer = AsnConvert.parse(der, OCSPResponse);
  } catch (e) {
    throw new StarlingError('ERR_OCSP_RESPONSE', 'the OCSP response is not DER OCSPResponse', { cause: e });
  }
  if (outer.responseStatus !== OCSPResponseStatus.successful) {
    const name = OCSPResponseStatus[outer.responseStatus] ?? String(outer.responseStatus);
    throw fail('ERR_OCSP_RESPONSE', `the OCSP responder answered ${name}`);
  }
  if (outer.responseBytes?.responseType !== id_pkix_ocsp_basic) throw fail('ERR_OCSP_RESPONSE', 'the OCSP response is not a basic response');
  const basic = new Uint8Array(outer.responseBytes.response.buffer);

  // BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature, [0] certs }
  const [tbs, sigAlg, sig, certsTag] = childrenOf(basic, readTlv(basic, 0));
  if (tbs?.tag !== 0x30 || sigAlg?.tag !== 0x30 || sig?.tag !== 0x03) throw fail('ERR_OCSP_RESPONSE', 'malformed BasicOCSPResponse');
  const data = parseAsn(whole(basic, tbs), ResponseData);
  const algorithm = parseAsn(whole(basic, sigAlg), AlgorithmIdentifier).algorithm;
  const responder = responderIdOf(basic, tbs);
  const extra = certsTag?.tag === 0xa0 ? certsIn(basic, certsTag) : [];
  const signer = findSigner(responder, target, extra, now);
  const hashName = SIGNATURE_DIGESTS[algorithm];
  if (hashName === undefined) throw fail('ERR_OCSP_SIGNATURE', `the OCSP response is signed with an unsupported algorithm (${algorithm})`);
  const signature = basic.subarray(sig.body + 1, sig.end);
  if (!verify(hashName, basic.subarray(tbs.start, tbs.end), signer, signature)) {
    throw fail('ERR_OCSP_SIGNATURE', 'the OCSP response signature does not verify');
  }

  const single = data.responses.find((r) => sameCert(r.certID, target));
  if (!single) throw fail('ERR_OCSP_MISMATCH', 'the OCSP response says nothing about this certificate (another serial or issuer)');
  const thisUpdate = single.thisUpdate.getTime();
  const nextUpdate = single.nextUpdate?.getTime();
  if (thisUpdate > now + CLOCK_SKEW_MS) throw fail('ERR_OCSP_STALE', 'the OCSP response is not valid yet (thisUpdate in the future)');
  if (nextUpdate !== undefined && nextUpdate <= now) throw fail('ERR_OCSP_STALE', 'the OCSP response is past its nextUpdate');
  const s = single.certStatus;
  const status: OcspCertStatus = s.revoked ? 'revoked' : s.unknown !== undefined ? 'unknown' : s.good !== undefined ? 'good' : 'unknown';
  return {
    status,
    thisUpdate,
    nextUpdate,
    producedAt: data.producedAt.getTime(),
    revokedAt: s.revoked?.revocationTime.getTime(),
    der: Buffer.from(der),
  };
}

/** A whole TLV's bytes (what asn1-schema parses from). */
function whole(buf: Uint8Array, t: { start: number; end: number }): Uint8Array {
  return buf.subarray(t.start, t.end);
}

function parseAsn<T>(bytes: Uint8Array, type: new () => T): T {
  try {
    return AsnConvert.parse(bytes, type);
  } catch (e) {
    throw new StarlingError('ERR_OCSP_RESPONSE', 'malformed OCSP response data', { cause: e });
  }
}

type ResponderId = { byName: Buffer } | { byKey: Buffer };

/** ResponderID, as encoded: [1] EXPLICIT Name or [2] EXPLICIT KeyHash, after an optional [0] version. */
function responderIdOf(buf: Uint8Array, tbs: { tag: number; start: number; body: number; end: number }): ResponderId {
  const fields = childrenOf(buf, tbs);
  const id = fields[0]?.tag === 0xa0 ? fields[1] : fields[0];
  const inner = id && (id.tag === 0xa1 || id.tag === 0xa2) ? childrenOf(buf, id)[0] : undefined;
  if (!id || !inner) throw fail('ERR_OCSP_RESPONSE', 'malformed ResponderID');
  return id.tag === 0xa1 ? { byName: Buffer.from(buf.subarray(inner.start, inner.end)) } : { byKey: contentsOf(buf, inner) };
}

function certsIn(buf: Uint8Array, tagged: { tag: number; start: number; body: number; end: number }): Buffer[] {
  const seq = childrenOf(buf, tagged)[0];
  return seq ? childrenOf(buf, seq).map((c) => Buffer.from(buf.subarray(c.start, c.end))) : [];
}

function isResponder(id: ResponderId, c: CertFields): boolean {
  return 'byName' in id ? id.byName.equals(c.subjectName) : id.byKey.equals(digest('sha1', c.publicKeyBits));
}

/** The key that must have signed: the issuer's, or an authorized responder's from the response. */
function findSigner(id: ResponderId, target: OcspTarget, certs: Buffer[], now: number): KeyObject {
  if (isResponder(id, target.issuer)) return target.issuerX509.publicKey;
  for (const der of certs) {
    let fields: CertFields;
    let x: X509Certificate;
    try {
      fields = certFields(der);
      x = new X509Certificate(der);
    } catch {
      continue;
    }
    if (!isResponder(id, fields)) continue;
    const issued = x.checkIssued(target.issuerX509) && x.verify(target.issuerX509.publicKey);
    const forOcsp = (x.keyUsage ?? []).includes(id_kp_OCSPSigning);
    // The same allowance for a responder's clock ahead of ours as for thisUpdate.
    const current = x.validFromDate.getTime() <= now + CLOCK_SKEW_MS && now < x.validToDate.getTime();
    if (!issued) throw fail('ERR_OCSP_SIGNATURE', 'the OCSP responder certificate is not signed by the issuer');
    if (!forOcsp) throw fail('ERR_OCSP_SIGNATURE', 'the OCSP responder certificate lacks id-kp-OCSPSigning');
    if (!current) throw fail('ERR_OCSP_SIGNATURE', 'the OCSP responder certificate is expired or not yet valid');
    return x.publicKey;
  }
  throw fail('ERR_OCSP_SIGNATURE', 'the OCSP response is signed by neither the issuer nor a responder certificate it carries');
}

/** Whether a CertID is ours: serial, and the issuer's name and key hashed with the CertID's algorithm. */
function sameCert(id: CertID, target: OcspTarget): boolean {
  const alg = id.hashAlgorithm.algorithm === SHA1 ? 'sha1' : id.hashAlgorithm.algorithm === SHA256 ? 'sha256' : undefined;
  if (!alg) return false;
  return (
    integerHex(Buffer.from(id.serialNumber)) === integerHex(target.leaf.serial) &&
    Buffer.from(id.issuerNameHash.buffer).equals(digest(alg, target.issuer.subjectName)) &&
    Buffer.from(id.issuerKeyHash.buffer).equals(digest(alg, target.issuer.publicKeyBits))
  );
}

/** An INTEGER's contents without the sign-padding zero octets, as hex. */
function integerHex(b: Buffer): string {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString('hex');
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
