/**
 * Certificates and ACME challenge answers, as the proxy and the certificate manager share them.
 *
 * With anycast, the CA's validation request may reach ANY PoP, so challenge answers live in the
 * shared store, never only in the memory of the host that placed the order.
 */
export type CertSource = 'acme' | 'custom';

export interface StoredCertificate {
  /** The hostname this certificate is filed under (exact name or `*.example.com`). */
  hostname: string;
  source: CertSource;
  /** PEM: leaf first, then the chain. */
  certPem: string;
  /** PEM private key. Never logged, never put in an error. */
  keyPem: string;
  /** Names the certificate covers (subjectAltName DNS entries). */
  names: string[];
  /** ISO 8601. */
  notBefore: string;
  notAfter: string;
  /** For an ACME certificate: the challenge type that passed (absent when the CA reused an authorization). */
  challenge?: 'http-01' | 'tls-alpn-01' | 'dns-01';
}

/** What `list` returns: everything but the key. */
export type CertificateSummary = Omit<StoredCertificate, 'keyPem' | 'certPem'> & { fingerprint256: string };

export interface HttpChallenge {
  type: 'http-01';
  token: string;
  keyAuthorization: string;
}

export interface AlpnChallenge {
  type: 'tls-alpn-01';
  hostname: string;
  /** The self-signed certificate carrying the acmeIdentifier extension (RFC 8737 §3). */
  certPem: string;
  keyPem: string;
}

export type Challenge = HttpChallenge | AlpnChallenge;

export interface CertificateStore {
  get(hostname: string, source: CertSource): Promise<StoredCertificate | undefined>;
  /** Every stored certificate, keys included (for building the proxy's index). */
  all(): Promise<StoredCertificate[]>;
  list(): Promise<CertificateSummary[]>;
  put(cert: StoredCertificate): Promise<void>;
  remove(hostname: string, source: CertSource): Promise<boolean>;

  putChallenge(c: Challenge): Promise<void>;
  removeChallenge(c: Pick<HttpChallenge, 'type' | 'token'> | Pick<AlpnChallenge, 'type' | 'hostname'>): Promise<void>;
  httpChallenge(token: string): Promise<string | undefined>;
  alpnChallenge(hostname: string): Promise<{ certPem: string; keyPem: string } | undefined>;

  /** The ACME account key (PEM), created once; undefined before the first order. */
  accountKey(directoryUrl: string): Promise<string | undefined>;
  putAccountKey(directoryUrl: string, pem: string): Promise<void>;

  /** Calls `onChange` after certificates change (by this process or, for shared stores, another). */
  watch(onChange: () => void): () => void;
}
