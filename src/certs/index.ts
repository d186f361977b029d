export type {
  AlpnChallenge,
  CertSource,
  CertificateStore,
  CertificateSummary,
  Challenge,
  HttpChallenge,
  StoredCertificate,
} from './types.js';
export { FileCertStore, type FileCertStoreOptions } from './file-store.js';
export { MemoryCertStore } from './memory-store.js';
export { CertificateIndex, type CertificateIndexOptions } from './cert-index.js';
export { selfSigned, defaultSelfSigned, type KeyPairPem, type SelfSignedOptions } from './self-signed.js';
export {
  checkChain,
  checkDirectoryUrl,
  checkHostname,
  checkToken,
  coversName,
  inspectCertificate,
  isValidToken,
  normalizeCertificate,
  normalizeChallenge,
  parseKey,
  tryHostname,
  type CertificateFacts,
} from './validate.js';
export { AcmeIssuer, type AcmeIssuerOptions, type ChallengeType } from './acme.js';
export { RenewalManager, type RenewalManagerOptions, type RenewalStatus } from './renewal.js';
export { Rfc2136Solver, type Dns01Solver, type Rfc2136SolverOptions } from './dns01/solver.js';
export type { TsigAlgorithm } from './dns01/tsig.js';
export { OcspStapler, type OcspFetch, type OcspStaplerOptions } from './ocsp-stapler.js';
export type { OcspAnswer, OcspCertStatus } from './ocsp.js';
