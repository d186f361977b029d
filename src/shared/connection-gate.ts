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
}

export class ConnectionGate {
  private readonly perAddress = new Map<string, number>();
  private openCount = 0;
  private refusedTotal = 0;
  private refusedPerAddress = 0;

  constructor(readonly limits: ConnectionLimits) {}

  /**
   * Counts `socket` in (it is released when it closes) or destroys it when a cap is reached.
   * Returns whether it was admitted.
   */
  admit(socket: net.Socket): boolean {
    const key = addressKey(socket.remoteAddress);
    const fromThere = this.perAddress.get(key) ?? 0;
    if (this.openCount >= this.limits.maxConnections) {
      this.refusedTotal++;
      socket.destroy();
      return false;
    }
    if (fromThere >= this.limits.maxPerAddress) {
      this.refusedPerAddress++;
      socket.destroy();
      return false;
    }
    this.openCount++;
    this.perAddress.set(key, fromThere + 1);
    socket.once('close', () => {
      this.openCount--;
      const n = (this.perAddress.get(key) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, n);
    });
    return true;
  }

  stats(): ConnectionGateStats {
    return { open: this.openCount, refusedTotal: this.refusedTotal, refusedPerAddress: this.refusedPerAddress };
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
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : String(parseInt(g, 16).toString(16))));
}
