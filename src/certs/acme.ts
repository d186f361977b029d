import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Authorization, Client, Order } from 'acme-client';
import { StarlingError, describeError, type Logger } from '../shared/index.js';
import type { Challenge, CertificateStore, StoredCertificate } from './types.js';
import type { Dns01Solver } from './dns01/solver.js';

/**
 * Certificates from an ACME CA (RFC 8555) with acme-client: Let's Encrypt in production, Pebble in
 * tests. Challenge answers go into the SHARED store, never into this process's memory: with anycast,
 * the CA's validation request may reach any PoP, and every PoP answers from the same store.
 *
 * Supported: TLS-ALPN-01 (RFC 8737, answered on the TLS port with `acme-tls/1`), HTTP-01
 * (RFC 8555 §8.3, answered on port 80) and, with a `dns01` solver, DNS-01 (RFC 8555 §8.4: a TXT
 * record at `_acme-challenge.<name>`, which lives in DNS, not in the store). Wildcards need DNS-01:
 * without a solver they are refused with ERR_ACME_WILDCARD.
 *
 * Known limits: acme-client polls with its own timers (not our Clock; `pollIntervalMs` sets the
 * first delay) and retries 5xx/network errors after 5, 10 … 25 s (module-wide axios settings). The
 * account key is created once per store and directory; two PoPs racing on an empty shared store
 * may each register one, and the last key written is the one reused from then on.
 */
export type ChallengeType = 'tls-alpn-01' | 'http-01' | 'dns-01';

export interface AcmeIssuerOptions {
  directoryUrl: string;
  email?: string | undefined;
  store: CertificateStore;
  logger: Logger;
  /** Extra CA (PEM) to trust for the ACME server's own HTTPS listener, e.g. Pebble's test CA. */
  caBundlePem?: string | undefined;
  /** First delay between status polls; acme-client doubles it up to 30 s. Default 5000 (its own). */
  pollIntervalMs?: number;
  /**
   * Which challenge to answer when the CA offers several. Default ['tls-alpn-01', 'http-01'], and
   * 'dns-01' last when `dns01` is given. 'dns-01' needs `dns01`.
   */
  challengePriority?: ChallengeType[];
  /** Places the DNS-01 TXT records (e.g. Rfc2136Solver); enables 'dns-01' and wildcards. */
  dns01?: Dns01Solver | undefined;
}

/** A DNS-01 TXT record put in place for one authorization, to remove afterwards. */
interface PlacedTxt {
  fqdn: string;
  value: string;
}

/** What an authorization's challenge looks like on the wire (acme-client's types omit tls-alpn-01). */
interface WireChallenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: { type?: string; detail?: string };
}

// acme-client talks through one module-wide axios instance. Trusting an extra CA by editing its
// defaults would trust it for every directory in the process, so one interceptor picks the agent by
// the request's origin instead; NODE_EXTRA_CA_CERTS is not needed (it is read only at start-up).
const agentsByOrigin = new Map<string, https.Agent>();
let interceptorInstalled = false;

/** acme-client (and its axios) is loaded on first use: an agent or proxy that never orders a certificate never pays for it. */
type Acme = typeof import('acme-client');
let acmeModule: Promise<Acme> | undefined;
const acme = (): Promise<Acme> => (acmeModule ??= import('acme-client'));

async function trustFor(directoryUrl: string, caPem: string): Promise<void> {
  agentsByOrigin.set(new URL(directoryUrl).origin, new https.Agent({ ca: [...tls.rootCertificates, caPem] }));
  if (interceptorInstalled) return;
  interceptorInstalled = true;
  (await acme()).axios.interceptors.request.use((config) => {
    const agent = config.url !== undefined && URL.canParse(config.url) ? agentsByOrigin.get(new URL(config.url).origin) : undefined;
    if (agent) config.httpsAgent = agent;
    return config;
  });
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export class AcmeIssuer {
  private readonly opts: AcmeIssuerOptions;
  private readonly priority: ChallengeType[];
  private readonly log: Logger;
  private client: Promise<Client> | undefined;

  constructor(opts: AcmeIssuerOptions) {
    this.opts = opts;
    this.priority = opts.challengePriority ?? ['tls-alpn-01', 'http-01', ...(opts.dns01 ? (['dns-01'] as const) : [])];
    if (this.priority.includes('dns-01') && !opts.dns01) {
      throw new StarlingError('ERR_ACME_CHALLENGE', 'dns-01 is in challengePriority but no DNS-01 solver (dns01) is configured', { fault: 'user' });
    }
    this.log = opts.logger.child({ component: 'acme', directory: opts.directoryUrl });
  }

  /** Orders, validates and stores (source 'acme') a certificate for one hostname. */
  async issue(hostname: string): Promise<StoredCertificate> {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    const wildcard = host.startsWith('*.');
    if (wildcard && !this.priority.includes('dns-01')) {
      const why = this.opts.dns01 ? 'which challengePriority leaves out' : 'and no DNS-01 solver is configured';
      throw new StarlingError('ERR_ACME_WILDCARD', `${host}: wildcards need DNS-01, ${why}`, {
        fault: 'user',
        hint: 'configure DNS-01 (docs/dns-01.md), add a custom certificate for the wildcard (starling certs import), or list each name',
      });
    }
    if (!HOSTNAME.test(wildcard ? host.slice(2) : host)) {
      throw new StarlingError('ERR_ACME_ORDER', `${JSON.stringify(hostname)} is not a DNS name a CA can validate`, { fault: 'user' });
    }
    const client = await this.account();
    const order = await this.step(host, 'placing the order', () =>
      client.createOrder({ identifiers: [{ type: 'dns', value: host }] }),
    );
    const authzs = await this.step(host, 'reading the authorizations', () => client.getAuthorizations(order));
    const placed: Challenge[] = [];
    const txts: PlacedTxt[] = [];
    let passed: ChallengeType | undefined;
    try {
      for (const authz of authzs) passed = (await this.authorize(client, order, authz, placed, txts)) ?? passed;
    } finally {
      for (const c of placed) {
        const which = c.type === 'http-01' ? { type: c.type, token: c.token } : { type: c.type, hostname: c.hostname };
        await this.opts.store.removeChallenge(which).catch((e: unknown) =>
          this.log.warn('could not remove a challenge answer', { hostname: host, type: c.type, error: describeError(e) }),
        );
      }
      for (const t of txts) {
        await this.opts.dns01?.cleanup(t.fqdn, t.value).catch((e: unknown) =>
          this.log.warn('could not remove a DNS-01 TXT record', { hostname: host, fqdn: t.fqdn, error: describeError(e) }),
        );
      }
    }
    const { crypto: acmeCrypto } = await acme();
    const certKey = await acmeCrypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acmeCrypto.createCsr({ commonName: host, altNames: [host] }, certKey);
    const chain = await this.step(host, 'finalizing the order', async () =>
      client.getCertificate(await client.finalizeOrder(order, csr)),
    );
    const cert: StoredCertificate = {
      ...describeChain(chain), hostname: host, source: 'acme', certPem: chain, keyPem: certKey.toString(),
      ...(passed ? { challenge: passed } : {}),
    };
    await this.opts.store.put(cert);
    this.log.info('certificate issued', { hostname: host, notAfter: cert.notAfter });
    return cert;
  }

  /**
   * Answers one authorization with the preferred challenge the CA offers, waits for the verdict and
   * says which type passed (undefined when the CA reused a valid authorization).
   */
  private async authorize(
    client: Client, order: Order, authz: Authorization, placed: Challenge[], txts: PlacedTxt[],
  ): Promise<ChallengeType | undefined> {
    // For a wildcard the identifier is the base name, with `wildcard: true` (RFC 8555 §7.1.4).
    const host = authz.identifier.value;
    if (authz.status === 'valid') return undefined; // reused by the CA (RFC 8555 §7.1.3)
    const offered = authz.challenges as unknown as WireChallenge[];
    const type = this.priority.find((t) => offered.some((c) => c.type === t));
    const challenge = offered.find((c) => c.type === type);
    if (type === undefined || challenge === undefined) {
      throw new StarlingError(
        'ERR_ACME_CHALLENGE',
        `${host}: the CA offers ${offered.map((c) => c.type).join(', ') || 'no challenges'}, none of ${this.priority.join(', ')}`,
      );
    }
    // For dns-01 acme-client returns the TXT value: base64url(SHA-256(key authorization)).
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge as never);
    const fqdn = `_acme-challenge.${host}`;
    if (type === 'dns-01') {
      const solver = this.opts.dns01;
      if (!solver) throw new StarlingError('ERR_ACME_CHALLENGE', `${host}: dns-01 chosen without a DNS-01 solver`);
      txts.push({ fqdn, value: keyAuthorization }); // before present(): a half-done add is cleaned up too
      await solver.present(fqdn, keyAuthorization);
      this.log.info('DNS-01 TXT record placed', { hostname: host, fqdn });
    } else {
      await this.placeAnswer(authz, type, challenge, keyAuthorization, placed);
    }
    await this.verdict(client, order, authz, type, challenge);
    return type;
  }

  /** Puts an HTTP-01 or TLS-ALPN-01 answer into the shared store. */
  private async placeAnswer(
    authz: Authorization, type: 'http-01' | 'tls-alpn-01', challenge: WireChallenge, keyAuthorization: string, placed: Challenge[],
  ): Promise<void> {
    const host = authz.identifier.value;
    let answer: Challenge;
    if (type === 'tls-alpn-01') {
      const { crypto: acmeCrypto } = await acme();
      const key = await acmeCrypto.createPrivateEcdsaKey('P-256');
      const [, cert] = await acmeCrypto.createAlpnCertificate(authz, keyAuthorization, key);
      answer = { type, hostname: host, certPem: cert.toString(), keyPem: key.toString() };
    } else {
      answer = { type, token: challenge.token, keyAuthorization };
    }
    await this.opts.store.putChallenge(answer);
    placed.push(answer);
    this.log.info('challenge answer stored', { hostname: host, type });
  }

  private async verdict(client: Client, order: Order, authz: Authorization, type: ChallengeType, challenge: WireChallenge): Promise<void> {
    const host = authz.identifier.value;
    try {
      await client.completeChallenge(challenge as never);
      await client.waitForValidStatus(authz);
    } catch (e) {
      const detail = (await this.problem(client, order, authz.url, type)) ?? describeError(e);
      throw new StarlingError('ERR_ACME_CHALLENGE', `${type} for ${host} failed: ${detail}`, {
        cause: e,
        hint: type === 'http-01'
          ? `the CA must reach http://${host}/.well-known/acme-challenge/ on port 80 of a PoP`
          : type === 'dns-01'
            ? `the CA's resolvers must find TXT _acme-challenge.${host} from every authoritative server of the zone`
            : `the CA must reach ${host} on port 443 of a PoP, offering ALPN acme-tls/1`,
      });
    }
  }

  /** The CA's problem detail for the failed challenge (RFC 8555 §8: challenge.error). */
  private async problem(client: Client, order: Order, authzUrl: string, type: string): Promise<string | undefined> {
    try {
      const [fresh] = await client.getAuthorizations({ ...order, authorizations: [authzUrl] });
      const failed = (fresh?.challenges as unknown as WireChallenge[] | undefined)?.find((c) => c.type === type);
      const err = failed?.error;
      if (!err) return undefined;
      return err.type ? `${err.detail ?? 'no detail'} (${err.type})` : err.detail;
    } catch {
      return undefined;
    }
  }

  /** The account, created once per store and directory; its key is kept in the store. */
  private account(): Promise<Client> {
    this.client ??= this.openAccount().catch((e: unknown) => {
      this.client = undefined; // let the next issue() try again
      throw e;
    });
    return this.client;
  }

  private async openAccount(): Promise<Client> {
    const { store, directoryUrl, email } = this.opts;
    const { Client, crypto: acmeCrypto } = await acme();
    // Before the first request to the directory: its CA, when the operator gave one (Pebble's, in tests).
    if (this.opts.caBundlePem !== undefined) await trustFor(directoryUrl, this.opts.caBundlePem);
    let accountKey = await store.accountKey(directoryUrl);
    const known = accountKey !== undefined;
    if (accountKey === undefined) {
      accountKey = (await acmeCrypto.createPrivateEcdsaKey('P-256')).toString();
      await store.putAccountKey(directoryUrl, accountKey);
      this.log.info('ACME account key created');
    }
    const poll = this.opts.pollIntervalMs ?? 5000;
    const client = new Client({ directoryUrl, accountKey, backoffMin: poll, backoffMax: Math.max(poll, 30_000), backoffAttempts: 10 });
    const register = { termsOfServiceAgreed: true, ...(email ? { contact: [`mailto:${email}`] } : {}) };
    await this.step('ACME account', 'registration', async () => {
      // For a known key, look the account up (RFC 8555 §7.3.1): re-sending only the ToS flag is an
      // empty update, which Pebble refuses. A CA that forgot the account (Pebble restarted) gets a new one.
      if (known) {
        try {
          return await client.createAccount({ onlyReturnExisting: true });
        } catch {
          this.log.info('ACME account not found for the stored key; registering it');
        }
      }
      return client.createAccount(register);
    });
    return client;
  }

  private async step<T>(subject: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new StarlingError('ERR_ACME_ORDER', `${subject}: ${what} failed at ${this.opts.directoryUrl}: ${acmeFailure(e)}`, { cause: e });
    }
  }
}

/**
 * acme-client (5.4) loses a network error once its own retries are spent: its response
 * interceptor then reads `response.config` of a response that never came and throws this TypeError
 * instead. Said as what it means, so the reason shown to the operator is not a stack-trace riddle.
 */
const LOST_NETWORK_ERROR = "Cannot read properties of undefined (reading 'config')";
function acmeFailure(e: unknown): string {
  if (e instanceof TypeError && e.message === LOST_NETWORK_ERROR) return 'the CA could not be reached (no answer after acme-client\'s retries of network errors)';
  return describeError(e);
}

/** Names and validity of the leaf (the chain's first certificate). */
function describeChain(chainPem: string): Pick<StoredCertificate, 'names' | 'notBefore' | 'notAfter'> {
  const leaf = new X509Certificate(chainPem);
  const names = (leaf.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
  return {
    names,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}
