import dgram from 'node:dgram';
import net from 'node:net';

/**
 * Can this host take these public ports? Before a deploy replaces anything, the control plane asks
 * every host (the agent's `POST /v1/ports/check`): each TCP port not served already is bound on the
 * proxy's listen address and let go at once, each UDP port on every address the UDP edge binds.
 * A port another program holds, or one below 1024 without the right to bind it, is named with the
 * system's reason; nothing stays bound.
 */
export interface PortProblem {
  protocol: 'tcp' | 'udp';
  port: number;
  /** The system's code and words: `EADDRINUSE (address already in use)`. */
  error: string;
}

export interface ProbeTargets {
  /** Where TCP services listen; undefined: this proxy serves none (nothing is checked). */
  tcpHost: string | undefined;
  udpHosts: readonly string[];
  /** Ports this proxy serves already (they are fine as they are). */
  tcpServed: readonly number[];
  udpServed: readonly number[];
}

export async function probePorts(t: ProbeTargets, tcp: readonly number[], udp: readonly number[]): Promise<PortProblem[]> {
  const tcpHost = t.tcpHost;
  const checks: Promise<PortProblem | undefined>[] = [];
  if (tcpHost !== undefined) for (const port of new Set(tcp)) if (!t.tcpServed.includes(port)) checks.push(tryTcp(tcpHost, port));
  for (const port of new Set(udp)) if (!t.udpServed.includes(port)) for (const host of t.udpHosts) checks.push(tryUdp(host, port));
  const found = (await Promise.all(checks)).filter((p): p is PortProblem => p !== undefined);
  const seen = new Set<string>();
  return found.filter((p) => !seen.has(`${p.protocol}/${p.port}`) && seen.add(`${p.protocol}/${p.port}`)).sort((a, b) => a.port - b.port);
}

function tryTcp(host: string, port: number): Promise<PortProblem | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e) => resolve({ protocol: 'tcp', port, error: words(e) }));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

function tryUdp(host: string, port: number): Promise<PortProblem | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    s.once('error', (e) => {
      s.close();
      resolve({ protocol: 'udp', port, error: `${words(e)} on ${host}` });
    });
    s.bind({ port, address: host, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

function words(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'another program holds it' : code === 'EACCES' ? 'not allowed to bind it' : code === 'EADDRNOTAVAIL' ? 'the address is not on this host' : e.message;
  return code ? `${code} (${why})` : why;
}
