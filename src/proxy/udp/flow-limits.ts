/**
 * What keeps a UDP flood from starving everything else on the host (issue 17): every new flow is a
 * socket (a descriptor) and a place in a table, every datagram a turn of the event loop. So:
 * - at most MAX_FLOWS flows in all and MAX_FLOWS_PER_ADDRESS per client address (IPv4, or IPv6
 *   /64: the connection caps' addressKey): a flood from many source ports cannot take the descriptors TCP and HTTP need;
 * - each client address gets a budget of RATE datagrams per second (a token bucket, BURST deep):
 *   the excess is dropped before anything else is done with it.
 * Dropped datagrams are counted (starling_proxy_udp_dropped_total). Pure but for the clock reading.
 */
import { addressKey } from '../../shared/index.js';

export const MAX_FLOWS = 4096;
export const MAX_FLOWS_PER_ADDRESS = 64;
export const RATE = 2000;
export const BURST = 4000;

interface Bucket {
  tokens: number;
  at: number;
  flows: number;
}

export class FlowLimits {
  private readonly byAddress = new Map<string, Bucket>();
  flows = 0;

  constructor(private readonly now: () => number) {}

  /** A datagram from `address` may be handled (false: drop it). */
  admitDatagram(address: string): boolean {
    const b = this.bucket(address);
    const t = this.now();
    b.tokens = Math.min(BURST, b.tokens + ((t - b.at) * RATE) / 1000);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** A new flow from `address` may open (false: drop its datagram). */
  openFlow(address: string): boolean {
    const b = this.bucket(address);
    if (this.flows >= MAX_FLOWS || b.flows >= MAX_FLOWS_PER_ADDRESS) return false;
    b.flows++;
    this.flows++;
    return true;
  }

  closeFlow(address: string): void {
    const b = this.byAddress.get(addressKey(address));
    if (!b) return;
    b.flows--;
    this.flows--;
  }

  /** Forgets addresses with no flow and a full bucket (the sweep). */
  prune(): void {
    const t = this.now();
    for (const [k, b] of this.byAddress) if (b.flows === 0 && b.tokens + ((t - b.at) * RATE) / 1000 >= BURST) this.byAddress.delete(k);
  }

  private bucket(address: string): Bucket {
    const k = addressKey(address);
    let b = this.byAddress.get(k);
    if (!b) {
      b = { tokens: BURST, at: this.now(), flows: 0 };
      this.byAddress.set(k, b);
    }
    return b;
  }
}
