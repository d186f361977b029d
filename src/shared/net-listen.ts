import type { AddressInfo, Server } from 'node:net';

/** Listens; resolves with the bound address, or rejects with the listen error (EADDRINUSE …). */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Closes an HTTP server now: open connections (idle keep-alives, long polls) are cut. */
export function closeNow(server: Server & { closeAllConnections(): void }): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
