/**
 * `starling lab` end to end, as a user runs it (the built CLI), on the default preset: a real
 * internet in namespaces (BIRD on every router), a real control plane, a real agent per PoP host,
 * the demo app deployed with `starling deploy`, and HTTP from every client namespace.
 *
 *   - every city's measured PoP is its expected catchment, over IPv4 and IPv6 alike: `lab curl -6`
 *     from every city reaches the demo app at the PoP IPv4 reaches (the lab is dual stack), and
 *     every failure below moves both families;
 *   - HTTPS is the platform's: lab up starts Pebble and its DNS in the control namespace, the control
 *     plane orders demo.starling.test from it, Pebble validates through the lab's routing, and every
 *     city gets the demo app over HTTPS (HTTP/1.1, and HTTP/2 by ALPN) with Pebble's root trusted;
 *     lab status lists the certificate with its expiry;
 *   - a raw TCP service (the demo's port 7000, with proxy_proto) answers from every city, at the
 *     city's PoP, with the client's address in the PROXY header;
 *   - a UDP service (the demo's DNS server on port 53) answers dig from every city, at its PoP;
 *   - gRPC (an app with h2_backend, scaled to every PoP) from every city with @grpc/grpc-js;
 *   - a write (the demo's /write) from any city is replayed to the primary region, and the machine
 *     there sees the Fly-Replay-Src of the PoP's machine that asked, across hosts — over the PoPs'
 *     WireGuard mesh: a capture on lhr1's link sees only UDP between the WireGuard ports;
 *   - a machine reaches another PoP's machine on the private network: mad's resolves
 *     lhr.demo.internal at the agent's fdaa::3 and gets lhr's machine at its private address;
 *   - graceful (drain) moves the PoP's cities and loses no request but those whose connection was
 *     open at the instant the route moved (routing is per packet: no drain can save them), with
 *     HTTP clients and with HTTPS clients (a fresh TLS connection per request);
 *   - crash moves the PoP's cities to the expected PoP, and healing brings the announcement back;
 *   - silent (tbf) does too, and the router says BFD took the session down, not the hold timer;
 *   - fail + heal restores the original catchment;
 *   - lab down leaves no namespace, link, process or mount of the lab behind, and is idempotent;
 *   - after a `lab up` killed halfway, lab down removes what its state file lists, and nothing else;
 *   - a normal user (nobody, when the tests run as root) gets the same lab inside a user namespace,
 *     invisible from the host, and lab down stops that namespace with everything in it.
 *
 * These tests check what happened and in what order, never how fast: the outage windows and the
 * failed requests within 1 s are bench:failover's figures, against its aims (bench/README.md). The
 * suite runs beside other test files, so a slow answer is not a lost one here.
 *
 * Needs root (network namespaces), BIRD 2 and bubblewrap; skipped with the reason otherwise. Lab
 * names are random, so runs never collide; only lab-owned names are compared before/after, since
 * other test files make namespaces of their own meanwhile.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRoot, labMeshInterface, labMeshProcesses, runCommand, type FailoverReport, type LabStatus } from '../../src/lab/index.js';
import { startCapture } from '../helpers/capture.js';
import { killAllCli, runCli, startCli } from '../helpers/cli.js';
import { canMakeNamespaces, ip } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

// The CLI keeps what it needs to reach a lab (--lab, lab use) under HOME: a HOME of this file's own.
const HOME = mkdtempSync(join(tmpdir(), 'starling-lab-e2e-'));
process.env.HOME = HOME;
after(() => rmSync(HOME, { recursive: true, force: true }));

const labId = (): string => `e${Array.from(randomBytes(5), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
const LAB = labId();
const name = ['--name', LAB];

function skipReason(): string | false {
  if (!existsSync('/usr/sbin/bird')) return 'BIRD 2 is not installed (npm run setup)';
  if (!existsSync('/usr/bin/bwrap')) return 'bubblewrap is not installed (npm run setup)';
  if (!canMakeNamespaces()) return 'cannot make network namespaces here: run the tests as root';
  return false;
}
const skip = skipReason();

/** What of lab `lab` exists now: namespaces, mounts, processes (anything naming its state dir, and its wireguard-go devices). */
function leftovers(lab: string): { namespaces: string[]; mounts: string[]; processes: string[]; links: string[] } {
  const prefix = `sl-${lab}-`;
  const namespaces = ip('netns', 'list').split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(prefix) || l.includes(`/starling-lab/${lab}`));
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(`/starling-lab/${lab}/`) || cmd.includes(prefix)) processes.push(`${pid} ${cmd}`);
    } catch {
      /* gone meanwhile */
    }
  }
  processes.push(...labMeshProcesses(lab).map((pid) => `${pid} wireguard-go`));
  // The lab's veths live in its namespaces; none may have ended up in the host's.
  const links = ip('-o', 'link').split('\n').filter((l) => / (p-[a-z]+\d|c-[a-z]+|r-[a-z]+|ctl)[@:]/.test(l));
  return { namespaces, mounts, processes, links };
}

async function json<T>(args: string[], timeoutMs = 90_000): Promise<T> {
  const r = await runCli([...args, '--json', ...name], { timeoutMs });
  assert.equal(r.code, 0, `starling ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const status = (): Promise<LabStatus> => json<LabStatus>(['lab', 'status']);

/** Runs argv in a namespace of the lab: its exit code and output (a refused connection is an outcome here). */
async function inNs(ns: string, argv: string[], timeoutMs = 15_000): Promise<{ code: number; out: string }> {
  try {
    const r = await runCommand(['ip', 'netns', 'exec', ns, ...argv], { timeoutMs });
    return { code: 0, out: r.stdout };
  } catch (e) {
    return { code: (e as { exitCode?: number | null }).exitCode ?? -1, out: '' };
  }
}
/** Brings up a printed wg-quick config in a city's namespace, as wg-quick does (wireguard-go here: no kernel module). */
async function laptop(org: string, peerName: string, city: string): Promise<{ ns: string; address: string }> {
  if (org !== 'personal') assert.equal((await runCli(['orgs', 'create', org, '--lab', LAB])).code, 0);
  const created = await runCli(['wireguard', 'create', '--org', org, '--region', 'mad', peerName, '--json', '--lab', LAB]);
  assert.equal(created.code, 0, created.stdout + created.stderr);
  const peer = JSON.parse(created.stdout) as { address: string; host: string; config: string };
  assert.equal(peer.host, 'mad1');
  const file = join(HOME, `${peerName}.conf`);
  writeFileSync(file, peer.config, { mode: 0o600 });
  // wg-quick's own reading of the config: what it would give `wg setconf`.
  writeFileSync(`${file}.wg`, execFileSync('wg-quick', ['strip', file], { encoding: 'utf8' }));
  const ns = `sl-${LAB}-c-${city}`;
  const dev = labMeshInterface(LAB, peerName); // lab down stops its wireguard-go with the lab's own
  for (const argv of [['wireguard-go', dev], ['wg', 'setconf', dev, `${file}.wg`], ['ip', '-6', 'addr', 'add', `${peer.address}/128`, 'dev', dev], ['ip', 'link', 'set', dev, 'up'], ['ip', '-6', 'route', 'add', 'fdaa::/16', 'dev', dev]]) {
    await runCommand(['ip', 'netns', 'exec', ns, ...argv]);
  }
  return { ns, address: peer.address };
}
const dig = (ns: string, qname: string) => inNs(ns, ['dig', '@fdaa::3', qname, 'AAAA', '+time=1', '+tries=1']);
const fetchFrom = (ns: string, address: string, port = 8080, host?: string) =>
  inNs(ns, ['curl', '-s', '--max-time', '2', '-H', 'accept: application/json', ...(host ? ['-H', `host: ${host}`] : []), `http://[${address}]:${port}/`]);

/** The fra router's session with PoP host fra1. */
const fra1Session = (s: LabStatus): LabStatus['routers'][number]['sessions'][number] | undefined =>
  s.routers.find((r) => r.city === 'fra')?.sessions.find((x) => x.peer === 'fra1');

/** Every city at its expected PoP, over IPv4 and over IPv6 alike: a withdrawal (or drain) takes both prefixes. */
function assertCatchment(s: LabStatus, what: string): void {
  for (const row of s.catchment) {
    assert.equal(row.measured, row.expected, `${what}: ${row.city} answered by ${row.measured ?? row.error}, expected ${row.expected}`);
    assert.equal(row.measured6, row.expected, `${what}: ${row.city} answered over IPv6 by ${row.measured6 ?? row.error}, expected ${row.expected}`);
  }
  assert.equal(s.catchment.length, 5, `${what}: five client cities`);
}

describe('starling lab (default preset)', { skip, timeout: 300_000 }, () => {
  const before0 = skip ? undefined : leftovers(LAB);
  before(() => assert.deepEqual(before0, { namespaces: [], mounts: [], processes: [], links: [] }, 'nothing of this lab exists yet'));
  after(async () => {
    killAllCli();
    await runCli(['lab', 'down', ...name], { timeoutMs: 60_000 });
  });

  it('lab up builds it, deploys the demo app and measures the expected catchment', async () => {
    const r = await runCli(['lab', 'up', ...name], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `lab up exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    for (const step of ['network', 'routers', 'CA', 'control plane', 'agents', 'BGP', 'deploy', 'serving', 'HTTPS', 'catchment']) {
      assert.match(r.stdout, new RegExp(`✓ ${step} `), `lab up reports the ${step} step`);
    }
    assert.match(r.stdout, /lab up in [\d.]+ s/);
    assert.doesNotMatch(r.stdout, /✗/);
    const s = await status();
    assertCatchment(s, 'after lab up');
    assert.deepEqual(s.catchment.map((c) => [c.city, c.measured]), [['lhr', 'lhr'], ['cdg', 'lhr'], ['fra', 'fra'], ['mad', 'mad'], ['waw', 'fra']]);
    assert.ok(s.routers.every((x) => x.up && x.sessions.every((y) => y.state === 'Established')), 'every router session is up');
    assert.deepEqual(s.pops.map((p) => [p.id, p.agent, p.announce]), [['lhr1', true, 'announced'], ['fra1', true, 'announced'], ['mad1', true, 'announced']]);
    // The demo app says who served: the PoP, the region and the machine.
    const curl = await runCli(['lab', 'curl', 'waw', 'http://10.200.0.1/', ...name]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /Machine \S+ in fra answered; you reached it through the fra PoP/);
    const exec = await runCli(['lab', 'exec', 'cdg', ...name, '--', 'ip', '-4', 'route', 'show', 'default']);
    assert.match(exec.stdout, /default via 10\.128\.1\.1/);
  });

  it('IPv6 from every city: lab curl -6 reaches the demo app at the PoP IPv4 reaches, and every router routes both prefixes alike', async () => {
    const pops = async (args: string[]): Promise<Record<string, string>> => {
      const cities = ['lhr', 'cdg', 'fra', 'mad', 'waw'];
      const answers = await Promise.all(cities.map(async (city) => {
        const r = await runCli(['lab', 'curl', city, ...args, ...name]);
        assert.equal(r.code, 0, `lab curl ${city} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
        return [city, r.stdout] as const;
      }));
      return Object.fromEntries(answers.map(([city, out]) => [city, /you reached it through the (\w+) PoP/.exec(out)?.[1] ?? `no PoP in: ${out}`]));
    };
    const [v4, v6] = await Promise.all([pops(['http://demo.starling.test/']), pops(['-6', 'http://demo.starling.test/'])]);
    assert.deepEqual(v4, { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' });
    assert.deepEqual(v6, v4, 'the IPv6 catchment is the IPv4 one');
    // At the IPv6 service address itself, and the client really came over IPv6: the demo greets it by its IPv6 address.
    const hello = await runCli(['lab', 'curl', '--6', 'waw', 'http://[2001:db8:200::1]/', ...name]);
    assert.match(hello.stdout, /^Hello 2001:db8:128:4::2! Machine \S+ in fra answered; you reached it through the fra PoP/);
    const wrong = await runCli(['lab', 'curl', '-6', 'waw', 'http://10.200.0.1/', ...name]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /-6 asks for IPv6, but 10\.200\.0\.1 is an IPv4 address/);
    const s = await status();
    assert.equal(s.serviceAddress6, '2001:db8:200::1');
    for (const r of s.routers) {
      assert.deepEqual([r.pop6, r.asPath6], [r.pop, r.asPath], `${r.city}: the IPv6 anycast route is the IPv4 one`);
      assert.ok(r.sessions.some((x) => x.family === 6) && r.sessions.filter((x) => x.family === 6).every((x) => x.state === 'Established'), `${r.city}: IPv6 sessions up`);
    }
    assert.deepEqual(s.catchment.map((c) => c.measured6), s.catchment.map((c) => c.measured), 'the catchment measured over IPv6 equals IPv4\'s');
  });

  it("HTTPS from every city: the demo app's certificate, ordered by the control plane from the lab's Pebble, over HTTP/1.1 and HTTP/2", async () => {
    const expected = { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' } as Record<string, string>;
    // The cities at once (each city's two requests one after the other): the CLI's start is most of each.
    await Promise.all(Object.keys(expected).map(async (city) => {
      for (const h2 of [false, true]) {
        const r = await runCli(['lab', 'curl', city, 'https://demo.starling.test/', '--include', ...(h2 ? ['--http2'] : []), ...name]);
        const what = `lab curl ${city} https://demo.starling.test/${h2 ? ' --http2' : ''}`;
        assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^\\* TLSv1\\.3, ${h2 ? 'ALPN h2' : 'no ALPN'}; certificate for demo\\.starling\\.test from Pebble Intermediate CA \\w+, valid until .*; verified\r\n`), what);
        assert.match(r.stdout, h2 ? /\r\nHTTP\/2 200\r\n/ : /\r\nHTTP\/1\.1 200 OK\r\n/, what);
        assert.match(r.stdout, new RegExp(`you reached it through the ${expected[city]} PoP`), what);
      }
    }));
    // Not a Pebble-issued name: the agents refuse a handshake for a name they hold no certificate for.
    const other = await runCli(['lab', 'curl', 'cdg', 'https://10.200.0.1/', '--host', 'nothing.starling.test', ...name]);
    assert.equal(other.code, 7, `no certificate for nothing.starling.test: ${other.stdout}${other.stderr}`);
    const bad = await runCli(['lab', 'curl', 'cdg', 'http://10.200.0.1/', '--http2', ...name]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--http2 is HTTP\/2 over TLS/);
    const s = await status();
    const cert = s.certificates.find((c) => c.hostname === 'demo.starling.test');
    assert.ok(cert, `lab status lists the demo app's certificate: ${JSON.stringify(s.certificates)}`);
    assert.equal(cert.app, 'demo');
    assert.equal(cert.state, 'ready');
    assert.match(cert.issuer ?? '', /Pebble Intermediate CA/);
    assert.ok(cert.notAfter !== null && Date.parse(cert.notAfter) > Date.now(), `an expiry in the future: ${cert.notAfter}`);
    assert.ok(cert.challenge === 'tls-alpn-01' || cert.challenge === 'http-01', `validated through the lab: ${cert.challenge}`);
    assert.equal(s.ca.running, true);
    const table = await runCli(['lab', 'status', ...name], { timeoutMs: 90_000 });
    assert.match(table.stdout, /demo\.starling\.test +demo +ready +CN=Pebble Intermediate CA \w+ +\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ days\)/);
  });

  it('writes replayed to the primary region from every city: the machine in lhr sees where each came from, across hosts, inside WireGuard', async () => {
    const expected = { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' } as Record<string, string>;
    // What reaches lhr1 from the other PoP hosts on its link while the writes cross to it.
    const pops = (await status()).pops;
    const lhr1 = pops.find((p) => p.id === 'lhr1')!;
    const others = pops.filter((p) => p !== lhr1).map((p) => p.address);
    const cap = await startCapture(lhr1.ns, 'r-lhr', `ip and (${others.map((a) => `host ${a}`).join(' or ')})`, join(HOME, 'lhr1-underlay.pcap'));
    await Promise.all(Object.keys(expected).map(async (city) => {
      const r = await runCli(['lab', 'curl', city, 'http://demo.starling.test/write', ...name]);
      assert.equal(r.code, 0, `lab curl ${city} /write exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      const w = JSON.parse(r.stdout) as { pop: string; region: string; replayed_from: string | null };
      assert.deepEqual([w.pop, w.region], [expected[city], 'lhr'], `${city}: the write is served in the primary region`);
      // A PoP outside lhr has its own machine answer fly-replay; the replay crosses to lhr1's host.
      if (expected[city] === 'lhr') assert.equal(w.replayed_from, null, city);
      else assert.match(w.replayed_from ?? '', new RegExp(`^instance=[^;]+;region=${expected[city]};t=\\d+$`), `${city}: Fly-Replay-Src reaches the machine on another host`);
    }));
    // Between PoP hosts only WireGuard: UDP between the mesh ports, and none of the requests in clear.
    const { raw, lines } = await cap.stop();
    assert.ok(lines.length > 0, 'the replays crossed lhr1\'s link');
    for (const l of lines) assert.match(l, /\.51820 > [\d.]+\.51820: UDP/, `only WireGuard between hosts: ${l}`);
    for (const clear of ['demo.starling.test', 'starling-peer', '/write']) assert.equal(raw.indexOf(clear), -1, `"${clear}" is not on the underlay in clear`);
  });

  it("machines reach each other across PoPs on the private network: mad's machine asks fdaa::3 for lhr.demo.internal and gets lhr's machine inside the mesh", async () => {
    const st = await runCli(['status', '--app', 'demo', '--json', '--lab', LAB]);
    assert.equal(st.code, 0, st.stderr);
    const machines = (JSON.parse(st.stdout) as { machines: { id: string; region: string }[] }).machines;
    const [mad, lhr] = ['mad', 'lhr'].map((r) => machines.find((m) => m.region === r)!);
    // Inside mad's machine: its resolver (fdaa::3, the agent's .internal DNS), then HTTP to the address it gave.
    const js = [
      "const dns = require('dns').promises, http = require('http');",
      "dns.resolve6('lhr.demo.internal').then(([a]) => http.get({ host: a, port: 8080, path: '/', headers: { accept: 'application/json' } }, (r) => {",
      "  let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(JSON.stringify({ a, b })));",
      "}).on('error', (e) => console.log(JSON.stringify({ a, error: e.code }))), (e) => console.log(JSON.stringify({ error: e.code })));",
    ].join(' ');
    const r = await runCli(['ssh', 'console', '--app', 'demo', '--machine', mad!.id, '-C', `node -e "${js.replaceAll('"', '\\"')}"`, '--lab', LAB], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { a?: string; b?: string; error?: string };
    assert.equal(out.error, undefined, r.stdout);
    assert.match(out.a!, /^fdaa:[1-3]:/, "an address of the plan, behind one of the lab's three hosts");
    assert.deepEqual(JSON.parse(out.b!), { pop: null, region: 'lhr', machine: lhr!.id, client: null }, "lhr's machine itself answers, no proxy between");
  });

  /** The laptops of the next tests: one of the demo's org, one of another. */
  let mine = { ns: '', address: '' };
  let theirs = { ns: '', address: '' };
  /** The demo's machines' private addresses, as the laptop resolved them. */
  let demoAddresses: string[] = [];

  it("a laptop on the org's private network (starling wireguard create): it resolves demo.internal through its gateway and reaches every machine; another org's laptop reaches nothing", async () => {
    mine = await laptop('personal', 'lap1', 'waw');
    // Its gateway adds it once the feed says so, and its first handshake may come before: poll.
    let answer = '';
    await waitFor(async () => ((answer = (await dig(mine.ns, 'demo.internal')).out), /status: NOERROR/.test(answer) && /\tAAAA\t/.test(answer)), 'the laptop resolves demo.internal at fdaa::3', 30_000, 200);
    const addresses = [...answer.matchAll(/\tAAAA\t(\S+)/g)].map((m) => m[1]!);
    demoAddresses = addresses;
    const st = await runCli(['status', '--app', 'demo', '--json', '--lab', LAB]);
    const machines = (JSON.parse(st.stdout) as { machines: { id: string }[] }).machines.map((m) => m.id).sort();
    assert.equal(addresses.length, machines.length, answer);
    // Every machine, on every PoP host: through the gateway, then the mesh.
    const served = await Promise.all(addresses.map(async (a) => (JSON.parse((await fetchFrom(mine.ns, a)).out) as { machine: string }).machine));
    assert.deepEqual(served.sort(), machines);
    // Not the hosts themselves: the gateway's and another host's backhaul port.
    const hosts = (JSON.parse((await runCli(['hosts', 'list', '--json', '--lab', LAB])).stdout) as { hosts: { id: string; mesh?: { address: string; backhaul_port?: number } }[] }).hosts;
    // (Each refusal is curl's 2 s timeout, exit 28: a dropped packet has no answer. All at once.)
    const closed = hosts.filter((x) => ['mad1', 'lhr1'].includes(x.id)).map(async (h) => {
      const r = await fetchFrom(mine.ns, h.mesh!.address.split('/')[0]!, h.mesh!.backhaul_port ?? 4280);
      assert.equal(r.code, 28, `${h.id}'s backhaul is closed to a laptop (curl timed out): ${r.code} ${r.out}`);
    });
    assert.equal(closed.length, 2);
    await Promise.all(closed);

    // Another org's laptop on the same gateway: NXDOMAIN for the names, nothing through to the machines.
    theirs = await laptop('rival', 'lap2', 'cdg');
    await waitFor(async () => /status: NXDOMAIN/.test((await dig(theirs.ns, 'demo.internal')).out), "the rival's laptop is answered, NXDOMAIN", 30_000, 200);
    await Promise.all(addresses.map(async (a) => assert.equal((await fetchFrom(theirs.ns, a)).code, 28, `the rival's laptop does not reach ${a}`)));

  });

  it("a private service (starling ips allocate-private): the org's machines and laptops reach demo.flycast through their host's proxy; another org's laptop neither resolves nor reaches it", async () => {
    const allocated = await runCli(['ips', 'allocate-private', '--app', 'demo', '--json', '--lab', LAB]);
    assert.equal(allocated.code, 0, allocated.stdout + allocated.stderr);
    const ip = JSON.parse(allocated.stdout) as { address: string };
    assert.match(ip.address, /^fdaa:0:/, 'host number 0: every host has it');
    // From mad's machine: its resolver (fdaa::3), then its own host's proxy on port 80.
    const st = await runCli(['status', '--app', 'demo', '--json', '--lab', LAB]);
    const mad = (JSON.parse(st.stdout) as { machines: { id: string; region: string }[] }).machines.find((m) => m.region === 'mad')!;
    const js = [
      "const dns = require('dns').promises, http = require('http');",
      "dns.resolve6('demo.flycast').then(([a]) => http.get({ host: 'demo.flycast', path: '/', headers: { accept: 'application/json' } }, (r) => {",
      "  let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(JSON.stringify({ a, b })));",
      "}).on('error', (e) => console.log(JSON.stringify({ a, error: e.code }))), (e) => console.log(JSON.stringify({ error: e.code })));",
    ].join(' ');
    let out: { a?: string; b?: string; error?: string } = {};
    // Every host adds the address once the feed says so: poll.
    await waitFor(async () => {
      const r = await runCli(['ssh', 'console', '--app', 'demo', '--machine', mad.id, '-C', `node -e "${js.replaceAll('"', '\\"')}"`, '--lab', LAB], { timeoutMs: 60_000 });
      out = r.code === 0 ? (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as typeof out) : { error: r.stderr };
      return out.b !== undefined;
    }, "mad's machine reaches demo.flycast", 30_000, 200);
    assert.equal(out.a, ip.address);
    const served = JSON.parse(out.b!) as { pop: string | null; region: string; client: string | null };
    assert.deepEqual([served.pop, served.region], ['mad', 'mad'], "through mad1's proxy, to the nearest machine");
    assert.match(served.client ?? '', /^fdaa:\d+:/, "the proxy saw the machine's private address");
    // The laptop, through its gateway mad1: its DNS, then the address.
    const q = await dig(mine.ns, 'demo.flycast');
    assert.match(q.out, new RegExp(`\tAAAA\t${ip.address}\n`), q.out);
    const viaLaptop = await fetchFrom(mine.ns, ip.address, 80, 'demo.flycast');
    assert.equal(viaLaptop.code, 0);
    assert.equal((JSON.parse(viaLaptop.out) as { pop: string }).pop, 'mad');
    // Another org's laptop: NXDOMAIN, and the address does not answer it.
    assert.match((await dig(theirs.ns, 'demo.flycast')).out, /status: NXDOMAIN/);
    assert.equal((await fetchFrom(theirs.ns, ip.address, 80, 'demo.flycast')).code, 28, "another org's laptop does not reach the private service");
    // Released: no host answers it any more; a removed laptop reaches nothing.
    assert.equal((await runCli(['ips', 'release-private', '--app', 'demo', '--lab', LAB])).code, 0);
    await waitFor(async () => (await fetchFrom(mine.ns, ip.address, 80, 'demo.flycast')).code !== 0, 'a released address is not answered', 15_000, 100);
    assert.equal((await runCli(['wireguard', 'remove', '--org', 'personal', 'lap1', '--lab', LAB])).code, 0);
    await waitFor(async () => (await fetchFrom(mine.ns, demoAddresses[0]!)).code !== 0, 'a removed laptop reaches nothing', 15_000, 100);
  });

  it('PostgreSQL with data: postgres create puts the primary in lhr and a replica in mad (each on a volume, streaming over the private network); postgres attach gives an app its database: its writes reach the primary, its reads the nearest copy; postgres failover moves the primary to mad with no write failed or lost', async () => {
    const cli = async (args: string[], timeoutMs = 120_000): Promise<string> => {
      const r = await runCli([...args, '--lab', LAB], { timeoutMs });
      assert.equal(r.code, 0, `starling ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    const created = await cli(['postgres', 'create', 'pg', '--region', 'lhr', '--replicas', 'mad'], 180_000);
    assert.match(created, /postgres:\/\/postgres:[\w-]+@top1\.nearest\.of\.pg\.internal:5432\/postgres/, 'the superuser, shown once (port 5432: the primary, wherever it is)');
    let machines: { id: string; region: string; healthy: boolean }[] = [];
    await waitFor(async () => {
      machines = (JSON.parse(await cli(['status', '--app', 'pg', '--json'])) as { machines: typeof machines }).machines;
      return machines.length === 2 && machines.every((m) => m.healthy);
    }, 'the primary and the replica to be up (the replica copied the primary through lhr.pg.internal)', 90_000, 500);
    const psql = (region: string, sql: string, db = 'postgres') => runCli(['ssh', 'console', '--app', 'pg', '--machine', machines.find((m) => m.region === region)!.id, '-C', `/usr/lib/postgresql/15/bin/psql -h /tmp -p 5433 -U postgres -d ${db} -tAc "${sql}"`, '--lab', LAB], { timeoutMs: 60_000 });
    const wrote = await psql('lhr', "create table notes(t text); insert into notes values ('written in lhr')");
    assert.equal(wrote.code, 0, wrote.stdout + wrote.stderr);
    let read = '';
    await waitFor(async () => ((read = (await psql('mad', 'select t from notes')).stdout.trim()), read === 'written in lhr'), 'the row to reach the replica in mad', 30_000, 200);
    const members = JSON.parse(await cli(['postgres', 'status', 'pg', '--json'])) as { region: string; role: string; lag_bytes: number | null; volume: { total_bytes: number | null } | null }[];
    assert.deepEqual(members.map((m) => [m.region, m.role]).sort(), [['lhr', 'primary'], ['mad', 'replica']]);
    for (const m of members) assert.ok(m.lag_bytes !== null && m.lag_bytes >= 0 && (m.volume?.total_bytes ?? 0) > 0, `${m.region}: a lag and a volume: ${JSON.stringify(m)}`);
    assert.match(await cli(['postgres', 'connect', 'pg', '-c', 'select t from notes']), /written in lhr/, 'psql on the primary');
    const refused = await psql('mad', "insert into notes values ('x')");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /cannot execute INSERT in a read-only transaction/, 'SQLSTATE 25006: what an app answers with fly-replay');
    const volumes = JSON.parse(await cli(['volumes', 'list', '--app', 'pg', '--json'])) as { region: string; state: string; attached_machine: string | null }[];
    assert.deepEqual(volumes.map((v) => [v.region, v.state, v.attached_machine !== null]).sort(), [['lhr', 'ready', true], ['mad', 'ready', true]], 'made by the deploy and the scale');

    // An app of the org with its own database: in lhr both URLs reach the primary; in mad the read one reaches mad's replica.
    const app = join(HOME, 'pg-reader');
    mkdirSync(app);
    copyFileSync(new URL('../../../test/fixtures/apps/pg-reader/server.mjs', import.meta.url), join(app, 'server.mjs'));
    writeFileSync(join(app, 'fly.toml'), 'app = "reader"\nprimary_region = "lhr"\n[experimental]\n  cmd = ["node", "server.mjs"]\n[http_service]\n  internal_port = 8080\n');
    await cli(['apps', 'create', 'reader', '--primary-region', 'lhr']);
    await cli(['postgres', 'attach', 'pg', '--app', 'reader']);
    assert.match(await cli(['secrets', 'list', '--app', 'reader']), /DATABASE_READ_URL[\s\S]*DATABASE_URL|DATABASE_URL[\s\S]*DATABASE_READ_URL/);
    await cli(['deploy', '--config', join(app, 'fly.toml'), '--image', app], 180_000);
    await cli(['scale', 'count', '1', '--region', 'lhr,mad', '--app', 'reader']);
    const ask = async (city: string): Promise<{ region: string; write: string; read: string }> => JSON.parse((await runCli(['lab', 'curl', city, 'http://reader.starling.test/', ...name])).stdout) as { region: string; write: string; read: string };
    let lhr = { region: '', write: '', read: '' };
    await waitFor(async () => ((lhr = await ask('lhr').catch(() => lhr)), lhr.write === 'reader|f'), "reader's machine in lhr to reach its database", 60_000, 500);
    assert.deepEqual(lhr, { region: 'lhr', write: 'reader|f', read: 'reader|f' }, 'in lhr the nearest copy is the primary');
    let mad = { region: '', write: '', read: '' };
    await waitFor(async () => ((mad = await ask('mad').catch(() => mad)), mad.region === 'mad' && mad.read !== ''), "reader's machine in mad", 60_000, 500);
    assert.deepEqual(mad, { region: 'mad', write: 'reader|f', read: 'reader|t' }, "in mad writes go to lhr's primary, reads to mad's replica");

    // examples/guestbook, fly's pattern: a write from Madrid hits mad's replica, gets 25006, is
    // replayed to lhr (fly-replay) and lands at the primary; then Madrid reads it from its replica.
    const book = new URL('../../../examples/guestbook', import.meta.url).pathname;
    await cli(['apps', 'create', 'guestbook', '--primary-region', 'lhr']);
    await cli(['postgres', 'attach', 'pg', '--app', 'guestbook']);
    await cli(['deploy', '--config', join(book, 'fly.toml'), '--image', book], 180_000);
    await cli(['scale', 'count', '1', '--region', 'lhr,mad', '--app', 'guestbook']);
    await waitFor(async () => {
      const ms = (JSON.parse(await cli(['status', '--app', 'guestbook', '--json'])) as { machines: { healthy: boolean }[] }).machines;
      return ms.length === 2 && ms.every((m) => m.healthy);
    }, 'a guestbook machine in lhr and in mad', 60_000, 300);
    const curl = (city: string, args: string[]) => runCli(['lab', 'exec', city, ...name, '--', 'curl', '-s', '--max-time', '10', '-H', 'host: guestbook.starling.test', ...args]);
    let posted: { written_in?: string; replayed?: boolean } = {};
    await waitFor(async () => ((posted = JSON.parse((await curl('mad', ['-X', 'POST', 'http://10.200.0.1/?text=hola+from+mad'])).stdout || '{}') as typeof posted), posted.written_in !== undefined), 'a guestbook write from mad', 60_000, 500);
    assert.deepEqual(posted, { id: 1, written_in: 'lhr', replayed: true }, "mad's machine got 25006 and answered fly-replay: written by lhr's machine at the primary");
    let book1: { read_in?: string; entries?: { text: string; written_in: string }[] } = {};
    await waitFor(async () => ((book1 = JSON.parse((await curl('mad', ['http://10.200.0.1/'])).stdout || '{}') as typeof book1), book1.read_in === 'mad' && (book1.entries?.length ?? 0) > 0), "the entry read back in mad", 30_000, 200);
    assert.deepEqual(book1.entries, [{ id: 1, text: 'hola from mad', written_in: 'lhr' }], "read from mad's replica");

    // A planned switchover to mad while London and Madrid keep writing: not one write fails, none is lost.
    const writes: { city: string; code: number; body: string }[] = [];
    let writing = true;
    const loops = ['lhr', 'mad'].map(async (city) => {
      for (let i = 0; writing; i++) {
        const r = await curl(city, ['--max-time', '30', '-w', '\\n%{http_code}', '-X', 'POST', `http://10.200.0.1/?text=${city}+${i}`]);
        const [body = '', code = '0'] = r.stdout.trim().split('\n');
        writes.push({ city, code: Number(code), body });
      }
    });
    await waitFor(async () => writes.length >= 6, 'writes before the switchover', 30_000, 100);
    const switched = await cli(['postgres', 'failover', 'pg', '--to', 'mad'], 120_000);
    assert.match(switched, /mad is the primary: writes refused for \d+ ms/);
    const atSwitch = writes.length;
    await waitFor(async () => writes.length >= atSwitch + 6, 'writes after the switchover', 60_000, 100);
    writing = false;
    await Promise.all(loops);
    assert.deepEqual(writes.filter((w) => w.code !== 201), [], 'every write during the switchover answered 201');
    const after = JSON.parse(await cli(['postgres', 'status', 'pg', '--json'])) as { region: string; role: string }[];
    assert.deepEqual(after.map((m) => [m.region, m.role]).sort(), [['lhr', 'replica'], ['mad', 'primary']], 'mad is the primary, lhr follows it');
    const ids = writes.map((w) => (JSON.parse(w.body) as { id: number }).id);
    const kept = (await psql('mad', `select count(*) from entries where id in (${ids.join(',')})`, 'guestbook')).stdout.trim();
    assert.equal(kept, String(ids.length), 'every acknowledged write is at the new primary');
    // The PoP hosts take 4 machines each: the next tests need lhr1's room back. Destroying an app
    // destroys its machines and its volumes (the scheduler counts the room free at once).
    for (const a of ['guestbook', 'reader', 'pg']) await cli(['apps', 'destroy', a, '--yes']);
  });

  it("a raw TCP service from every city: the PoP's own machine answers, and sees the client's address in the PROXY header", async () => {
    const expected = { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' } as Record<string, string>;
    await Promise.all(Object.keys(expected).map(async (city) => {
      // bash's /dev/tcp: a plain TCP client in the city's namespace, nothing but the shell.
      const r = await runCli(['lab', 'exec', city, ...name, '--', 'bash', '-c', `exec 3<>/dev/tcp/10.200.0.1/7000; echo "hello from ${city}" >&3; head -n 1 <&3`]);
      assert.equal(r.code, 0, `${city}: ${r.stdout}\n${r.stderr}`);
      const t = JSON.parse(r.stdout) as { region: string; client: string | null; said: string };
      assert.deepEqual([t.region, t.said], [expected[city], `hello from ${city}`], city);
      // The same client address the HTTP demo greets this city with.
      const http = await runCli(['lab', 'curl', city, 'http://demo.starling.test/', ...name]);
      assert.equal(t.client, /^Hello (\S+)!/.exec(http.stdout)?.[1], `${city}: the PROXY header carries the client's address`);
    }));
  });

  it('a UDP service from every city: dig gets the PoP\'s own machine\'s DNS answer from the anycast address', async () => {
    const expected = { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' } as Record<string, string>;
    await Promise.all(Object.keys(expected).map(async (city) => {
      // dig (bind9-dnsutils) checks the answer's id and that it came from the address it asked.
      const r = await runCli(['lab', 'exec', city, ...name, '--', 'dig', '@10.200.0.1', 'whoami.demo', 'TXT', '+short', '+tries=3', '+time=2']);
      assert.equal(r.code, 0, `${city}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout.trim(), new RegExp(`^"region=${expected[city]} machine=\\S+"$`), city);
    }));
  });

  it('gRPC from every city (h2_backend): a real gRPC client reaches its PoP\'s own machine over TLS, trailers and all', async () => {
    const app = join(HOME, 'grpc-app');
    mkdirSync(app);
    copyFileSync(new URL('../../../test/fixtures/apps/grpc-who/server.mjs', import.meta.url), join(app, 'server.mjs'));
    writeFileSync(
      join(app, 'fly.toml'),
      'app = "rpc"\nprimary_region = "lhr"\n[experimental]\n  cmd = ["node", "server.mjs"]\n[http_service]\n  internal_port = 50051\n  [http_service.http_options]\n    h2_backend = true\n',
    );
    const flags = ['--lab', LAB];
    const d = await runCli(['deploy', '-c', join(app, 'fly.toml'), '--image', app, '--create', ...flags], { timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const sc = await runCli(['scale', 'count', '1', '--region', 'lhr,fra,mad', '--app', 'rpc', ...flags], { timeoutMs: 120_000 });
    assert.equal(sc.code, 0, sc.stdout + sc.stderr);
    const s = await status();
    await waitFor(async () => (await status()).certificates.some((c) => c.hostname === 'rpc.starling.test' && c.state === 'ready'), 'the rpc app\'s certificate', 90_000, 500);
    const call = new URL('../helpers/grpc-call.js', import.meta.url).pathname;
    const expected = { lhr: 'lhr', cdg: 'lhr', fra: 'fra', mad: 'mad', waw: 'fra' } as Record<string, string>;
    await waitFor(async () => {
      const answers = await Promise.all(Object.keys(expected).map(async (city) => {
        const r = await runCli(['lab', 'exec', city, ...name, '--', process.execPath, call, '10.200.0.1:443', 'rpc.starling.test', s.ca.root, city]);
        return r.code === 0 ? (JSON.parse(r.stdout) as { greeting: string; region: string }) : undefined;
      }));
      return answers.every((a, i) => a?.greeting === `hello ${Object.keys(expected)[i]}` && a.region === expected[Object.keys(expected)[i]!]);
    }, 'a gRPC answer from the PoP\'s own machine in every city', 60_000, 500);
    const destroyed = await runCli(['apps', 'destroy', 'rpc', '--yes', ...flags]);
    assert.equal(destroyed.code, 0, destroyed.stderr);
  });

  it("your own app from the host: after lab use, deploy and status reach the lab's control plane through its namespace", async () => {
    const app = join(HOME, 'my-app');
    mkdirSync(app);
    writeFileSync(join(app, 'server.mjs'), "import { createServer } from 'node:http';\ncreateServer((q, r) => r.end(`mine in ${process.env.FLY_REGION}\\n`)).listen(8080);\n");
    writeFileSync(join(app, 'fly.toml'), 'app = "mine"\nprimary_region = "fra"\n[experimental]\n  cmd = ["node", "server.mjs"]\n[http_service]\n  internal_port = 8080\n');
    const use = await runCli(['lab', 'use', LAB]);
    assert.equal(use.code, 0, use.stderr);
    assert.match(readFileSync(join(HOME, '.config/starling/config.toml'), 'utf8'), new RegExp(`^lab = "${LAB}"$`, 'm'));
    // No --control, no token, no namespace: the default set by lab use.
    const d = await runCli(['deploy', '-c', join(app, 'fly.toml'), '--image', app, '--create'], { timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /release v1 deployed/);
    const curl = await runCli(['lab', 'curl', 'waw', 'http://mine.starling.test/', ...name]);
    assert.equal(curl.stdout, 'mine in fra\n', 'the app answers at its name on the anycast address, from a city of the lab');
    const st = await runCli(['status', '--app', 'mine', '--json', '--lab', LAB]);
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual((JSON.parse(st.stdout) as { machines: { region: string }[] }).machines.map((m) => m.region), ['fra']);
    const both = await runCli(['status', '--app', 'mine', '--lab', LAB, '--control', 'https://10.128.255.2:9300']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --control URL or --lab NAME, not both/);
    const destroyed = await runCli(['apps', 'destroy', 'mine', '--yes']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
  });

  it('graceful: draining lhr1 moves lhr and cdg to fra, losing no request but those open as the route moved', async () => {
    const r = await json<FailoverReport>(['lab', 'failover', 'lhr1', '--mode', 'graceful']);
    assert.deepEqual(r.cities.map((c) => [c.city, c.from, c.to, c.expected]), [['lhr', 'lhr', 'fra', 'fra'], ['cdg', 'lhr', 'fra', 'fra']]);
    for (const c of r.cities) {
      // Lost: refused, reset, answered non-2xx, or not answered within the prober's 10 s. One answered
      // 2xx later than 1 s (late) is slow, not lost: bench:failover counts those against its aim.
      // The only loss a drain allows is a connection open at the instant the city's route moved: its
      // later packets reach fra, which resets it (resetAtMove, src/lab/failover.ts). Anything else —
      // refused by the draining PoP, a 5xx, a reset before or after the move — fails.
      assert.equal(
        c.lost,
        c.resetAtMove,
        `${c.city}: ${c.lost} of ${c.requests} requests lost during a graceful drain, ${c.resetAtMove} of them reset as the route moved (${JSON.stringify(c.errors)}; ${c.late} answered late)`,
      );
      assert.ok(c.requests >= 50, `${c.city}: probed throughout (${c.requests} requests)`);
      assert.ok(c.ok, `${c.city}: settled on ${c.to}`);
    }
    assert.equal(r.healed, true);
    const s = await status();
    assert.equal(s.pops.find((p) => p.id === 'lhr1')?.announce, 'announced', 'lhr1 announces again once healed');
    assertCatchment(s, 'after healing the graceful drain');
  });

  it('graceful with HTTPS clients: a fresh TLS connection every 20 ms, none lost but those open as the route moved', async () => {
    const r = await json<FailoverReport>(['lab', 'failover', 'lhr1', '--mode', 'graceful', '--https']);
    assert.equal(r.https, true);
    assert.deepEqual(r.cities.map((c) => [c.city, c.from, c.to, c.expected]), [['lhr', 'lhr', 'fra', 'fra'], ['cdg', 'lhr', 'fra', 'fra']]);
    for (const c of r.cities) {
      // As for HTTP above: no handshake refused or failed (a certificate missing at fra, an unknown
      // name), no 5xx; the only loss a drain allows is a connection open as the city's route moved.
      assert.equal(
        c.lost,
        c.resetAtMove,
        `${c.city}: ${c.lost} of ${c.requests} HTTPS requests lost during a graceful drain, ${c.resetAtMove} of them reset as the route moved (${JSON.stringify(c.errors)}; ${c.late} answered late)`,
      );
      assert.ok(Object.keys(c.errors).every((k) => k === 'ECONNRESET' || k === 'EPIPE'), `${c.city}: only resets: ${JSON.stringify(c.errors)}`);
      assert.ok(c.requests >= 50, `${c.city}: probed throughout (${c.requests} requests)`);
      assert.ok(c.ok, `${c.city}: settled on ${c.to}`);
    }
    assert.equal(r.healed, true);
    assertCatchment(await status(), 'after healing the HTTPS drain');
  });

  it('crash: killing fra1 moves fra and waw to lhr, and healing brings them back', async () => {
    const r = await json<FailoverReport>(['lab', 'failover', 'fra1', '--mode', 'crash']);
    assert.deepEqual(r.cities.map((c) => [c.city, c.from, c.to, c.expected]), [['fra', 'fra', 'lhr', 'lhr'], ['waw', 'fra', 'lhr', 'lhr']]);
    for (const c of r.cities) assert.ok(c.ok && c.windowMs !== null, `${c.city}: settled on ${c.to} (outage window ${c.windowMs} ms)`);
    assert.equal(r.healed, true);
    const s = await status();
    assert.equal(s.pops.find((p) => p.id === 'fra1')?.announce, 'announced', 'fra1 announces again once healed');
    assertCatchment(s, 'after healing the crash');
  });

  it('silent: a link that drops every frame is left because BFD says so, not the hold timer, and used again once healed', async () => {
    const r = await json<FailoverReport>(['lab', 'failover', 'fra1', '--mode', 'silent', '--keep-failed']);
    assert.deepEqual(r.cities.map((c) => [c.city, c.from, c.to, c.expected]), [['fra', 'fra', 'lhr', 'lhr'], ['waw', 'fra', 'lhr', 'lhr']]);
    for (const c of r.cities) {
      assert.ok(c.ok, `${c.city}: settled on ${c.to}`);
      // The link really carried nothing: the requests sent to fra1 before the session went down failed.
      assert.ok(c.failed > 0, `${c.city}: a silent failure costs some requests`);
    }
    assert.equal(r.healed, false);
    const failed = await status();
    const session = fra1Session(failed);
    assert.notEqual(session?.state, 'Established', 'the fra router has no session with the silenced fra1');
    // BIRD records why it closed the session: BFD (100 ms × 3), not the 3 s hold timer, which would
    // read "BGP Error: Hold timer expired".
    assert.match(session?.lastError ?? '', /BFD session down/, `the fra router's last error for fra1: ${session?.lastError}`);
    // Its IPv6 twin over the same link went down the same way: both prefixes are gone.
    const session6 = failed.routers.find((x) => x.city === 'fra')?.sessions.find((x) => x.peer === 'fra1' && x.family === 6);
    assert.notEqual(session6?.state, 'Established', 'nor its IPv6 session');
    assert.match(session6?.lastError ?? '', /BFD session down/, `the fra router's last IPv6 error for fra1: ${session6?.lastError}`);
    assert.equal(failed.pops.find((p) => p.id === 'fra1')?.announce, 'down');
    assertCatchment(failed, 'with fra1 silenced');
    const h = await runCli(['lab', 'heal', 'fra1', ...name], { timeoutMs: 60_000 });
    assert.equal(h.code, 0, h.stderr);
    const healed = await status();
    assert.equal(fra1Session(healed)?.state, 'Established');
    assert.equal(healed.pops.find((p) => p.id === 'fra1')?.announce, 'announced', 'fra1 announces again once healed');
    assertCatchment(healed, 'after healing the silent failure');
  });

  it('lab fail and lab heal: mad goes to lhr while mad1 is down, and back after', async () => {
    const f = await runCli(['lab', 'fail', 'mad1', '--mode', 'crash', ...name]);
    assert.equal(f.code, 0, f.stderr);
    let s: LabStatus | undefined;
    await waitFor(async () => {
      s = await status();
      return s.catchment.find((c) => c.city === 'mad')?.measured === 'lhr';
    }, 'mad to be served by lhr', 20_000, 200);
    assert.equal(s!.pops.find((p) => p.id === 'mad1')?.failure, 'crash');
    assertCatchment(s!, 'with mad1 crashed');
    const h = await runCli(['lab', 'heal', 'mad1', ...name], { timeoutMs: 60_000 });
    assert.equal(h.code, 0, h.stderr);
    s = await status();
    assertCatchment(s, 'after lab heal');
    assert.equal(s.catchment.find((c) => c.city === 'mad')?.measured, 'mad');
  });

  it('lab down leaves nothing of the lab behind, and is idempotent', async () => {
    // The CA's daemons: challtestsrv's command line names nothing of the lab, so they are found by their records.
    const recordedCa = (JSON.parse(readFileSync(`/run/starling-lab/${LAB}/state.json`, 'utf8')) as { processes: Array<{ pid: number; what: string }> }).processes.filter((p) => /pebble/.test(p.what));
    assert.equal(recordedCa.length, 2, 'Pebble and challtestsrv are recorded lab processes');
    const r = await runCli(['lab', 'down', ...name], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const p of recordedCa) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      } catch {
        /* gone */
      }
      assert.ok(!cmd.includes('pebble'), `${p.what} (pid ${p.pid}) is stopped`);
    }
    assert.match(r.stdout, /is down: \d+ processes stopped/);
    assert.deepEqual(leftovers(LAB), before0);
    assert.ok(!existsSync(`/run/starling-lab/${LAB}`), 'the state directory is gone');
    assert.match(r.stdout, new RegExp(`lab ${LAB} was in use \\(starling lab use\\)`));
    assert.doesNotMatch(readFileSync(join(HOME, '.config/starling/config.toml'), 'utf8'), /^lab = /m, 'lab use of it is undone');
    assert.ok(!existsSync(join(HOME, `.config/starling/labs/${LAB}.toml`)), 'the way in (and its token) is gone');
    const again = await runCli(['lab', 'down', ...name]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to take down/);
    const gone = await runCli(['status', '--app', 'demo', '--lab', LAB]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, new RegExp(`lab "${LAB}" \\(--lab\\) is not up`));
  });
});

describe('lab down after a lab up that was killed halfway', { skip, timeout: 120_000 }, () => {
  const lab = labId();
  const decoy = `sl-${lab}-zz`;
  after(() => {
    killAllCli();
    try {
      ip('netns', 'del', decoy);
    } catch {
      /* gone */
    }
  });

  it('removes exactly what the state file lists: not a namespace it did not make', async () => {
    ip('netns', 'add', decoy); // carries the lab's prefix, but the lab never made it
    const up = startCli(['lab', 'up', '--name', lab], { timeoutMs: 120_000 });
    const stateFile = `/run/starling-lab/${lab}/state.json`;
    await waitFor(() => existsSync(stateFile) && readFileSync(stateFile, 'utf8').includes('"control plane"'), 'lab up to start its control plane', 60_000, 20);
    up.child.kill('SIGKILL');
    await up.done;
    assert.ok(leftovers(lab).processes.length > 0, 'the killed lab up left processes running');
    const r = await runCli(['lab', 'down', '--name', lab], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const left = leftovers(lab);
    assert.deepEqual(left.namespaces, [decoy], 'only the namespace the lab did not make is left');
    assert.deepEqual([left.processes, left.mounts.filter((m) => !m.includes(decoy)), left.links], [[], [], []]);
    assert.equal(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(decoy), true);
  });
});

/** As root, the unprivileged run is nobody's; as a normal user, the user's own. */
const AS_USER = isRoot() ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
function userSkip(): string | false {
  if (!existsSync('/usr/sbin/bird') || !existsSync('/usr/bin/bwrap')) return 'BIRD 2 or bubblewrap is not installed (npm run setup)';
  try {
    const [cmd = 'unshare', ...args] = [...AS_USER, 'unshare', '-Urm', 'true'];
    execFileSync(cmd, args, { stdio: 'ignore' });
    return false;
  } catch {
    return 'cannot run `unshare -Urm` as an unprivileged user: unprivileged user namespaces are off (user.max_user_namespaces, AppArmor)';
  }
}

describe('starling lab as a normal user', { skip: userSkip(), timeout: 180_000 }, () => {
  const lab = labId();
  // A HOME the user owns: lab up keeps the lab's access (for --lab) in it.
  const home = mkdtempSync(join(tmpdir(), 'starling-lab-user-'));
  if (isRoot()) execFileSync('chown', ['nobody:nogroup', home]);
  const userEnv = [...AS_USER, 'env', '-u', 'XDG_RUNTIME_DIR', `HOME=${home}`, process.execPath, CLI];
  const asUser = async (args: string[]): Promise<string> => (await runCommand([...userEnv, ...args, '--name', lab], { timeoutMs: 120_000 })).stdout;
  after(async () => {
    await asUser(['lab', 'down']).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  it('builds the same lab inside its user namespace, fails over with BFD, and lab down stops it all', async () => {
    const up = await asUser(['lab', 'up']);
    assert.match(up, /5\/5 cities reach their expected PoP/);
    assert.doesNotMatch(up, /✗/);
    const s = JSON.parse(await asUser(['lab', 'status', '--json'])) as LabStatus;
    assertCatchment(s, 'unprivileged, after lab up');
    // From outside the holder, the CLI reaches the control plane inside it (through nsenter and its namespace).
    const apps = (await runCommand([...userEnv, 'apps', 'list', '--json', '--lab', lab])).stdout;
    assert.deepEqual((JSON.parse(apps) as { name: string }[]).map((a) => a.name), ['demo']);
    // The host sees none of it: the namespaces and the state live in the holder's /run.
    assert.deepEqual(leftovers(lab).namespaces, []);
    assert.ok(!existsSync(`/run/starling-lab/${lab}`), "the lab's state is not in the host's /run");
    const f = JSON.parse(await asUser(['lab', 'failover', 'fra1', '--mode', 'silent', '--keep-failed', '--json'])) as FailoverReport;
    for (const c of f.cities) assert.ok(c.to === 'lhr' && c.ok, `${c.city}: settled on ${c.to}`);
    const failed = JSON.parse(await asUser(['lab', 'status', '--json'])) as LabStatus;
    assert.match(fra1Session(failed)?.lastError ?? '', /BFD session down/, 'BFD took the session down, not the hold timer');
    const down = await asUser(['lab', 'down']);
    assert.match(down, /is down: \d+ processes stopped/);
    assert.match(down, /its user namespace stopped/);
    await waitFor(() => leftovers(lab).processes.length === 0, 'every process of the lab to be gone', 5000, 20);
    assert.match(await asUser(['lab', 'down']), /nothing to take down/, 'a second lab down finds nothing');
  });
});
