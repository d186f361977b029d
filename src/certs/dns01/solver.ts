import net from 'node:net';
import { randomInt } from 'node:crypto';
import { StarlingError, describeError, type Clock, type Logger } from '../../shared/index.js';
import { buildQuery, checkUpdateReply, signedUpdate, txtValues, zoneFromSoaReply, type UpdateAction } from './rfc2136.js';
import type { TsigAlgorithm, TsigKey } from './tsig.js';

/** Puts the ACME DNS-01 TXT record in place and takes it away again. */
export interface Dns01Solver {
  /** Adds TXT `value` at `fqdn` (`_acme-challenge.example.test`); resolves once the server answers it. */
  present(fqdn: string, value: string): Promise<void>;
  /** Deletes exactly that TXT RR (other values at the name stay). */
  cleanup(fqdn: string, value: string): Promise<void>;
}

export interface Rfc2136SolverOptions {
  /** The primary (the server that accepts updates), "host:port"; the port defaults to 53. */
  server: string;
  /**
   * The zone to update. Default: the owner of the SOA the server returns for a SOA query on the
   * fqdn (its answer at the apex, its authority section below it).
   */
  zone?: string;
  keyName: string;
  algorithm: TsigAlgorithm;
  /** The TSIG secret, base64 (as in bind9's `key { secret "…"; }`). */
  secret: string;
  clock: Clock;
  logger: Logger;
  /** Per exchange with the server (connect, send, reply). Default 5000. */
  timeoutMs?: number;
}

/** How long present() waits for the server to answer the new TXT, and how often it asks. */
const VISIBLE_WITHIN_MS = 30_000;
const POLL_EVERY_MS = 200;

/**
 * DNS-01 by RFC 2136 updates signed with TSIG, to one server. Every exchange is over TCP (one
 * connection each): an update is not idempotent enough to resend blindly over UDP (a lost reply
 * would leave us unsure whether it applied), a signed reply may exceed 512 octets, and TCP needs
 * no retransmission timers of our own. Servers that accept updates accept them over TCP (RFC 7766).
 */
export class Rfc2136Solver implements Dns01Solver {
  private readonly host: string;
  private readonly port: number;
  private readonly key: TsigKey;
  private readonly opts: Rfc2136SolverOptions;
  private readonly log: Logger;
  private readonly zones = new Map<string, string>();

  constructor(opts: Rfc2136SolverOptions) {
    this.opts = opts;
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(opts.server);
    const host = m?.[1] ?? m?.[2];
    const port = m?.[3] === undefined ? 53 : Number(m[3]);
    if (host === undefined || port < 1 || port > 65535) {
      throw new StarlingError('ERR_DNS_CONFIG', `DNS-01 server ${JSON.stringify(opts.server)} is not host:port`, { fault: 'user' });
    }
    this.host = host;
    this.port = port;
    if (opts.algorithm !== 'hmac-sha256' && opts.algorithm !== 'hmac-sha512') {
      throw new StarlingError('ERR_DNS_CONFIG', `TSIG algorithm ${JSON.stringify(opts.algorithm)} is not hmac-sha256 or hmac-sha512`, { fault: 'user' });
    }
    const secret = Buffer.from(opts.secret.trim(), 'base64');
    if (secret.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(opts.secret.trim())) {
      throw new StarlingError('ERR_DNS_CONFIG', `the TSIG secret for key ${opts.keyName} is not base64`, { fault: 'user' });
    }
    this.key = { name: opts.keyName, algorithm: opts.algorithm, secret };
    this.log = opts.logger.child({ component: 'dns01', server: opts.server });
  }

  async present(fqdn: string, value: string): Promise<void> {
    await this.update('add', fqdn, value);
    const deadline = this.opts.clock.monotonic() + VISIBLE_WITHIN_MS;
    for (;;) {
      const seen = txtValues(await this.exchange(buildQuery(randomInt(65536), fqdn, 'TXT')), fqdn);
      if (seen.includes(value)) break;
      if (this.opts.clock.monotonic() >= deadline) {
        throw new StarlingError('ERR_DNS_PROPAGATION', `DNS server ${this.opts.server} accepted TXT ${fqdn} but did not answer it within ${VISIBLE_WITHIN_MS / 1000} s`);
      }
      await this.opts.clock.sleep(POLL_EVERY_MS);
    }
    this.log.info('DNS-01 TXT record in place', { fqdn });
  }

  async cleanup(fqdn: string, value: string): Promise<void> {
    await this.update('delete', fqdn, value);
    this.log.info('DNS-01 TXT record removed', { fqdn });
  }

  private async update(action: UpdateAction, fqdn: string, value: string): Promise<void> {
    const zone = await this.zoneOf(fqdn);
    const id = randomInt(65536);
    const now = () => Math.floor(this.opts.clock.now() / 1000);
    const { message, mac } = signedUpdate({ id, zone, fqdn, value, action }, this.key, now());
    const reply = await this.exchange(message);
    checkUpdateReply(reply, { server: this.opts.server, zone, fqdn, action, key: this.key, id, requestMac: mac, nowSeconds: now() });
  }

  private async zoneOf(fqdn: string): Promise<string> {
    const name = fqdn.toLowerCase().replace(/\.$/, '');
    if (this.opts.zone !== undefined) return this.opts.zone.toLowerCase().replace(/\.$/, '');
    const known = this.zones.get(name);
    if (known !== undefined) return known;
    const { rcode, zone } = zoneFromSoaReply(await this.exchange(buildQuery(randomInt(65536), name, 'SOA')));
    if (zone === undefined || !(name === zone || name.endsWith(`.${zone}`))) {
      throw new StarlingError('ERR_DNS_CONFIG', `DNS server ${this.opts.server} names no zone for ${name} (SOA query: ${rcode})`, {
        fault: 'user',
        hint: 'set the zone explicitly, and check that this server is authoritative for it',
      });
    }
    this.zones.set(name, zone);
    return zone;
  }

  /** One message out and its reply back over a fresh TCP connection (2-octet length prefix, RFC 1035 §4.2.2). */
  private exchange(message: Buffer): Promise<Buffer> {
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    const server = this.opts.server;
    return new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      let got = Buffer.alloc(0);
      let settled = false;
      const finish = (err: Error | undefined, reply?: Buffer) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        socket.destroy();
        if (err) reject(err);
        else if (reply) resolve(reply);
      };
      const unreachable = (why: string, cause?: unknown) =>
        new StarlingError('ERR_DNS_UNREACHABLE', `DNS server ${server}: ${why}`, { cause, hint: 'check the server address and that it accepts TCP' });
      const timer = this.opts.clock.setTimeout(() => finish(unreachable(`no reply within ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(message.length);
        socket.write(Buffer.concat([len, message]));
      });
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) finish(undefined, got.subarray(2, 2 + got.readUInt16BE(0)));
      });
      socket.once('error', (e) => finish(unreachable(describeError(e), e)));
      socket.once('close', () => finish(unreachable('closed the connection before replying')));
    });
  }
}
