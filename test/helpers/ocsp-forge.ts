/**
 * OCSP bytes made in the test, for the unit tier (no process, no socket): a root, an issuer, a
 * leaf with an AIA OCSP URL and a delegated responder certificate, made with @peculiar/x509, and
 * OCSPResponses built with @peculiar/asn1-ocsp and signed with node:crypto by whoever the test
 * says, so each check of the parser can be met or broken on purpose.
 */
import { KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Name } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
} from '@peculiar/asn1-ocsp';
import { certFields, digest } from '../../src/certs/ocsp-der.js';

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;

export interface Party {
  der: Buffer;
  pem: string;
  key: KeyObject;
}

export interface ForgedPki {
  root: Party;
  issuer: Party;
  responder: Party;
  /** A responder certificate signed by the issuer but without id-kp-OCSPSigning. */
  rogue: Party;
  leaf: Party;
  /** Another leaf of the same issuer (another serial). */
  other: Party;
  /** A leaf without AIA. */
  plain: Party;
}

async function make(
  cn: string,
  signer: { party: Party; cert: x509.X509Certificate; cryptoKey: webcrypto.CryptoKey } | undefined,
  extensions: x509.Extension[],
  serialHex: string,
): Promise<{ party: Party; cert: x509.X509Certificate; cryptoKey: webcrypto.CryptoKey }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const base = { serialNumber: serialHex, notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + 48 * HOUR), signingAlgorithm: SIGN, extensions };
  const cert = signer
    ? await x509.X509CertificateGenerator.create({ ...base, subject: `CN=${cn}`, issuer: signer.cert.subjectName, publicKey: keys.publicKey, signingKey: signer.cryptoKey })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...base, name: `CN=${cn}`, keys });
  const der = Buffer.from(cert.rawData);
  return { party: { der, pem: cert.toString('pem') + '\n', key: KeyObject.from(keys.privateKey) }, cert, cryptoKey: keys.privateKey };
}

export async function forgePki(ocspUrl = 'http://127.0.0.1:9/ocsp'): Promise<ForgedPki> {
  const ca = [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)];
  const root = await make('Forged Root', undefined, ca, '0a01');
  const issuer = await make('Forged Issuer', root, ca, '0a02');
  const aia = new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName('url', ocspUrl)] });
  const leaf = await make('leaf.test', issuer, [aia], '00c0ffee01');
  const other = await make('other.test', issuer, [aia], '00c0ffee02');
  const plain = await make('plain.test', issuer, [], '00c0ffee03');
  const responder = await make('Forged Responder', issuer, [new x509.ExtendedKeyUsageExtension([id_kp_OCSPSigning])], '0b01');
  const rogue = await make('Forged Rogue', issuer, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])], '0b02');
  return { root: root.party, issuer: issuer.party, responder: responder.party, rogue: rogue.party, leaf: leaf.party, other: other.party, plain: plain.party };
}

export interface ForgeOptions {
  /** About whom (default pki.leaf) and under which issuer (default pki.issuer). */
  about?: Party;
  issuer?: Party;
  /** Who signs (default pki.issuer); `carry` adds the signer's certificate to `certs`. */
  signer?: Party;
  carry?: boolean;
  byKey?: boolean;
  status?: 'good' | 'revoked' | 'unknown';
  thisUpdate?: Date;
  /** null: no nextUpdate. */
  nextUpdate?: Date | null;
  responseStatus?: OCSPResponseStatus;
  /** Changes the signed bytes after signing (a forged answer). */
  tamper?: boolean;
}

/** A DER OCSPResponse as the options say. */
export function forgeResponse(pki: ForgedPki, o: ForgeOptions = {}): Buffer {
  if (o.responseStatus !== undefined && o.responseStatus !== OCSPResponseStatus.successful) {
    return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: o.responseStatus })));
  }
  const about = certFields((o.about ?? pki.leaf).der);
  const issuer = certFields((o.issuer ?? pki.issuer).der);
  const signer = o.signer ?? pki.issuer;
  const signerFields = certFields(signer.der);
  const thisUpdate = o.thisUpdate ?? new Date(Date.now() - 60_000);
  const nextUpdate = o.nextUpdate === null ? undefined : (o.nextUpdate ?? new Date(thisUpdate.getTime() + HOUR));
  const status = o.status ?? 'good';
  const certStatus =
    status === 'good'
      ? new CertStatus({ good: null })
      : status === 'revoked'
        ? new CertStatus({ revoked: new RevokedInfo({ revocationTime: new Date(thisUpdate.getTime() - HOUR) }) })
        : new CertStatus({ unknown: null });
  const single = new SingleResponse({
    certID: new CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26', parameters: null }),
      issuerNameHash: new OctetString(digest('sha1', issuer.subjectName)),
      issuerKeyHash: new OctetString(digest('sha1', issuer.publicKeyBits)),
      serialNumber: new Uint8Array(about.serial).buffer,
    }),
    certStatus,
    thisUpdate,
    ...(nextUpdate && { nextUpdate }),
  });
  const responderID = o.byKey
    ? new ResponderID({ byKey: new OctetString(digest('sha1', signerFields.publicKeyBits)) })
    : new ResponderID({ byName: AsnConvert.parse(signerFields.subjectName, Name) });
  const data = new ResponseData({ responderID, producedAt: new Date(thisUpdate.getTime()), responses: [single] });
  const tbs = Buffer.from(AsnConvert.serialize(data));
  const signature = sign('sha256', tbs, signer.key);
  if (o.tamper) data.producedAt = new Date(thisUpdate.getTime() + 1000);
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
    signature: new Uint8Array(signature).buffer,
    ...(o.carry && { certs: [AsnConvert.parse(signer.der, Certificate)] }),
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  });
  return Buffer.from(AsnConvert.serialize(response));
}
