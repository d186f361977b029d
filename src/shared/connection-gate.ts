/**
 * Caps on open connections, for every server Starling runs (the proxy, the control plane, the
 * agent's admin API): at most `maxConnections` in all and at most `maxPerAddress` from one client
 * address. A connection over a cap is destroyed the moment it is accepted, before a byte of it is
 * read, so a flood of idle connections from one address cannot take the slots other clients need.
 *
 * "One address" is an IPv4 address, or an IPv6 /64: whoever holds one IPv6 address usually holds
 * the whole /64 (RFC 7421), so counting single IPv6 addresses would cap nothing.
 */
import type net from 'node:net';
import { StarlingError } from './errors.js';

export interface ConnectionLimits {
  /** Open connections in all. */
  maxConnections: number;
  /** Open connections from one IPv4 address or one IPv6 /64. */
  maxPerAddress: number;
}

export interface ConnectionGateStats {
  open: number;
  /** Connections refused because the global cap was reached. */
  refusedTotal: number;
  /** Connections refused because their address was at its cap. */
  refusedPerAddress: number;
  /** The cap key (addressKey) of the last connection refused, for a log line; undefined if none. */
  lastRefused: string | undefined;
}

/** Open connections of one cap key; the same object until the last of them closes. */
interface Slot {
  readonly key: string;
  n: number;
}

export class ConnectionGate {
  private readonly perAddress = new Map<string, Slot>();
  private openCount = 0;
  private refusedTotal = 0;
  private refusedPerAddress = 0;
  private lastRefused: string | undefined;

  constructor(readonly limits: ConnectionLimits) {
    const { maxConnections: total, maxPerAddress: per } = limits;
    if (!Number.isSafeInteger(total) || total < 1 || !Number.isSafeInteger(per) || per < 1 || per > total) {
      throw new StarlingError('ERR_CONNECTION_LIMITS', `connection caps must be whole numbers with 1 ≤ per address ≤ total, got ${per} per address and ${total} in all`, {
        fault: 'user',
      });
    }
  }

  /**
   * Counts `socket` in (it is released when it closes) or destroys it when a cap is reached.
   * Returns whether it was admitted. One Map lookup per connection (two for a new address): this
   * runs on every accept of the edge proxy.
   */
  admit(socket: net.Socket): boolean {
    const key = addressKey(socket.remoteAddress);
    if (this.openCount >= this.limits.maxConnections) {
      this.refusedTotal++;
      return this.refuse(socket, key);
    }
    let slot = this.perAddress.get(key);
    if (slot === undefined) {
      slot = { key, n: 0 };
      this.perAddress.set(key, slot);
    } else if (slot.n >= this.limits.maxPerAddress) {
      this.refusedPerAddress++;
      return this.refuse(socket, key);
    }
    slot.n++;
    this.openCount++;
    const held = slot;
    socket.on('close', () => this.release(held));
    return true;
  }

  private refuse(socket: net.Socket, key: string): false {
    this.lastRefused = key;
    socket.destroy();
    return false;
  }

  /** A slot is deleted only when nothing holds it, so a later connection from there starts a new one. */
  private release(slot: Slot): void {
    this.openCount--;
    if (--slot.n === 0) this.perAddress.delete(slot.key);
  }

  stats(): ConnectionGateStats {
    return { open: this.openCount, refusedTotal: this.refusedTotal, refusedPerAddress: this.refusedPerAddress, lastRefused: this.lastRefused };
  }

  /**
   * Gates every connection `server` accepts. Must be attached before any other 'connection'
   * listener: the http module parses what a socket sends from its own listener on, so a refused
   * socket is destroyed first.
   */
  attach(server: net.Server): void {
    server.prependListener('connection', (socket: net.Socket) => void this.admit(socket));
  }
}

/** The cap key of a peer address: an IPv4 address (mapped ones too), or an IPv6 /64. */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  // IPv4 first and without a regex: it is most of what the proxy accepts.
  if (address.indexOf(':') < 0) return address;
  if (address.startsWith('::ffff:') && address.indexOf('.') > 0 && address.lastIndexOf(':') === 6) return address.slice(7);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
/**
 * An IPv6 literal's eight groups, lower-case hex without leading zeros (a zone id dropped, a
 * trailing dotted quad as its two groups): `2001:db8::1` → 2001, db8, 0, 0, 0, 0, 0, 1.
 */
export function expandIpv6(literal: string): string[] {
  let address = literal.toLowerCase().split('%')[0]!;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (quad) {
    const [w, x, y, z] = quad.slice(1).map(Number) as [number, number, number, number];
    address = `${address.slice(0, quad.index)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : String(parseInt(g, 16).toString(16))));
}
