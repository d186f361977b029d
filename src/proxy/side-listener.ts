/**
 * A listener beside the public one with a context of its own: the peer listener on the host's
 * mesh address (ProxyServer.listenPeers) and a private service address's (listenPrivate). Its
 * connections share the proxy's gate and connection set, so caps, drain and close cover them;
 * `servers` is the proxy's list of such servers, which drain and close walk.
 */
import net from 'node:net';
import { listenOn, type ConnectionGate, type Logger } from '../shared/index.js';
import type { ProxyContext } from './core/index.js';
import { ClientConnection } from './http1/index.js';

/** A side listener; its connections stay open when it closes. */
export interface PeerListener {
  address: net.AddressInfo;
  close(): void;
}

export interface SideListenerHome {
  gate: ConnectionGate;
  connections: Set<ClientConnection>;
  servers: net.Server[];
  logger: Logger;
}

export async function openSideListener(home: SideListenerHome, ctx: ProxyContext, host: string, port: number, what: string): Promise<PeerListener> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    if (home.gate.admit(socket)) new ClientConnection(ctx, socket, home.connections);
  });
  server.on('error', (err) => home.logger.error(`${what} error`, { error: err.message }));
  const address = await listenOn(server, host, port);
  home.servers.push(server);
  return {
    address,
    close: () => {
      server.close();
      const i = home.servers.indexOf(server);
      if (i >= 0) home.servers.splice(i, 1);
    },
  };
}
