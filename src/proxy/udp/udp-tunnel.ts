/**
 * The peer end of a UDP flow's tunnel (udp-edge.ts): a trusted peer proxy names the service and the
 * machine it chose; this host's machine (that one, else another of its own) gets the framed
 * datagrams from a socket of its own, and its answers go back framed. The tunnel lives as long as
 * the edge keeps the flow; the machine's socket closes with it.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { chooseMachine, type ProxyContext } from '../core/index.js';
import { TUNNEL_OPEN, tunnelRefusal } from '../tcp/index.js';
import { frame, FrameReader } from './frames.js';

export interface UdpTunnelTarget {
  app: string;
  internalPort: number;
  machineId: string | undefined;
}

/** Returns how to cut the tunnel (the proxy closes), or undefined when it was refused. */
export function acceptUdpTunnel(ctx: ProxyContext, socket: net.Socket, t: UdpTunnelTarget, rest: Buffer | undefined, count: (app: string, outcome: string) => void): (() => void) | undefined {
  const route = ctx.live.routes.tcp.service(t.app, t.internalPort, 'udp');
  if (!route) {
    socket.end(tunnelRefusal(502, 'no such UDP service on this host'));
    return undefined;
  }
  const choice = chooseMachine(route.service, { edgeRegion: ctx.config.region, localOnly: true, preferInstance: t.machineId }, ctx.config.random);
  if (choice.kind !== 'machine') {
    if (choice.kind === 'none') ctx.autoscaler.start(route.service);
    count(t.app, 'no_machine');
    socket.end(tunnelRefusal(503, 'no machine of the UDP service is started here'));
    return undefined;
  }
  const m = choice.machine;
  m.load.inflight++;
  const up = dgram.createSocket({ type: net.isIPv6(m.address) ? 'udp6' : 'udp4' });
  let done = false;
  const close = (): void => {
    if (done) return;
    done = true;
    m.load.inflight--;
    ctx.queue.slotFreed(m.app.name);
    count(t.app, 'proxied');
    up.close();
    socket.destroy();
  };
  up.on('message', (d) => socket.write(frame(d)));
  up.on('error', close);
  socket.on('error', close);
  socket.on('close', close);
  // The edge ending the flow ends the tunnel (the socket is half-open capable: end is the signal).
  socket.on('end', close);
  socket.write(TUNNEL_OPEN);
  const reader = new FrameReader();
  const take = (b: Buffer): void => {
    for (const d of reader.push(b)) up.send(d, m.port, m.address);
  };
  socket.on('data', take);
  if (rest && rest.length > 0) take(rest);
  return close;
}
