// lab-demo: the app `starling lab up` deploys to every PoP. It says who served the request, so a
// user sees the anycast at work: which PoP the network delivered them to, and which machine answered.
//
//   GET /         JSON { pop, region, machine, client } when the request asks for JSON (Accept:
//                 application/json); otherwise one line of text saying the same
//   GET /healthz  "ok" (the platform's health check)
//   /write        a write, as a real app with a read replica does it: a machine outside the
//                 primary region answers `fly-replay: region=<primary>` and the edge replays the
//                 request there; the primary's machine answers JSON { pop, region, machine,
//                 replayed_from } (the Fly-Replay-Src the edge set, or null when not replayed)
//   TCP 7000      (the app's [[services]] with proxy_proto) reads the edge's PROXY v1 line, then one
//                 line from the client, and answers one JSON line { region, machine, client, said }
//   UDP 5353      (the app's [[services]] protocol = "udp", port 53 at the edge) a DNS server on
//                 fly-global-services (the machine's own address, in its /etc/hosts): any question
//                 gets one TXT answer, "region=<region> machine=<machine>"
//
// `pop` is the region of the edge proxy the request entered through (the proxy sets starling-region
// and fly-region on every request it forwards); `region` and `machine` are this machine's own
// (FLY_REGION / FLY_MACHINE_ID, with STARLING_* twins). They differ when the PoP had no healthy
// machine of its own and forwarded the request to another region's.
//
// Run it alone:  PORT=8080 FLY_MACHINE_ID=m1 FLY_REGION=lhr node examples/lab-demo/server.mjs
import http from 'node:http';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import process from 'node:process';

const env = process.env;
const machine = env.FLY_MACHINE_ID ?? env.STARLING_MACHINE_ID ?? os.hostname();
const region = env.FLY_REGION ?? env.STARLING_REGION ?? 'local';
const port = Number(env.PORT ?? 8080);
// On the private network too (a machine with a private IPv6, as on fly): '::' takes IPv4 as well.
const host = env.HOST ?? ((env.FLY_PRIVATE_IP ?? '').includes(':') ? '::' : '0.0.0.0');
const primary = env.PRIMARY_REGION ?? env.STARLING_PRIMARY_REGION;

function header(req, name) {
  const v = req.headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://demo').pathname;
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (path === '/write') {
    const replayedFrom = header(req, 'fly-replay-src');
    if (primary && region !== primary && replayedFrom === null) {
      res.writeHead(409, { 'fly-replay': `region=${primary}`, 'content-type': 'text/plain' }).end('replay me in the primary region\n');
      return;
    }
    const body = JSON.stringify({ pop: header(req, 'starling-region') ?? header(req, 'fly-region'), region, machine, replayed_from: replayedFrom }) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  if (path !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /\n');
    return;
  }
  const pop = header(req, 'starling-region') ?? header(req, 'fly-region');
  const client = header(req, 'starling-client-ip') ?? header(req, 'fly-client-ip');
  const answer = { pop, region, machine, client };
  if ((header(req, 'accept') ?? '').includes('application/json')) {
    const body = JSON.stringify(answer) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  const via = pop === region ? `the ${pop} PoP` : `the ${pop ?? 'unknown'} PoP, which forwarded it to ${region}`;
  const text = `Hello${client ? ` ${client}` : ''}! Machine ${machine} in ${region} answered; you reached it through ${via}.\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
});

server.on('error', (err) => {
  process.stderr.write(`lab-demo: cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stdout.write(`lab-demo: machine ${machine} (region ${region}) listening on ${host}:${port}\n`));

// The TCP service: the edge's PROXY header (v1: `PROXY TCP4 <client> <dst> <sport> <dport>\r\n`)
// comes first, then the client's line.
const tcpPort = Number(env.TCP_PORT ?? 7000);
const tcp = net.createServer((socket) => {
  let buf = '';
  socket.setEncoding('latin1');
  socket.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    if (lines.length < 3 && !(lines.length === 2 && !lines[0].startsWith('PROXY '))) return;
    const m = /^PROXY TCP[46] (\S+) /.exec(lines[0]);
    const said = (m ? lines[1] : lines[0]).replace(/\r$/, '');
    socket.end(JSON.stringify({ region, machine, client: m ? m[1] : null, said }) + '\n');
  });
  socket.on('error', () => undefined);
});
tcp.on('error', (err) => process.stderr.write(`lab-demo: cannot listen on ${host}:${tcpPort}: ${err.message}\n`));
tcp.listen(tcpPort, host);

// The DNS server: the question copied back, one TXT answer (RFC 1035 4.1; the name as a pointer to it).
const dnsPort = Number(env.DNS_PORT ?? 5353);
const dns = dgram.createSocket('udp4');
dns.on('message', (q, from) => {
  if (q.length < 12) return;
  let end = 12;
  while (end < q.length && q[end] !== 0) end += q[end] + 1;
  const question = q.subarray(12, end + 5);
  const text = Buffer.from(`region=${region} machine=${machine}`);
  const head = Buffer.from([q[0], q[1], 0x84 | (q[2] & 0x01), 0x00, 0, 1, 0, 1, 0, 0, 0, 0]);
  const answer = Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0, 0, text.length + 1, text.length]), text]);
  dns.send(Buffer.concat([head, question, answer]), from.port, from.address);
});
// fly's convention: UDP services bind fly-global-services; where no such name resolves (run alone),
// every address.
let fallback = true;
dns.on('error', (err) => {
  if (fallback && err.code === 'ENOTFOUND') {
    fallback = false;
    return dns.bind(dnsPort);
  }
  process.stderr.write(`lab-demo: DNS on ${dnsPort}: ${err.message}\n`);
});
dns.bind(dnsPort, 'fly-global-services');

function stop() {
  dns.close();
  tcp.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
