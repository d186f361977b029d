// The platform's certificates: the store (sealed keys), the one ACME client, and the API's views.
export { ControlCertStore, openCertificateKey, openChallengeKey, type ControlCertStoreOptions } from './store.js';
export { CertManager, type AcmeSettings, type AppsCertificateMode, type CertManagerOptions } from './manager.js';
export { certificateView, type CertificateView, type CertificateState, type DnsRecord } from './view.js';
export { hostnameProblem } from './hostname.js';
export { platformCertificates, type CertificateSettings, type PlatformCertificates, type PlatformCertificatesContext } from './platform.js';
