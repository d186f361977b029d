/**
 * bench:mesh's `names` part: how long from a machine reported started (its agent's
 * `PUT …/state`) to its `.internal` names answered on every host (aim ≤ 200 ms, like routes). A
 * real control plane (SQLite, loopback), three hosts each following its feed with the agent's own
 * ControlSync and answering with the agent's own directory (privateDnsDirectory) and DNS server
 * (startPrivateDns), all in this process; a UDP prober asks each server for `fra.web.internal`
 * every millisecond until the machine's address is in the answer. Between rounds the machine is
 * reported stopped and gone from every server.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { privateDnsDirectory, type PrivateDnsDirectory } from '../../src/agent/index.js';
import type { MachineDoc } from '../../src/contract/index.js';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { generateMeshKeys, machineAddress } from '../../src/mesh/index.js';
import { startPrivateDns, type PrivateDns } from '../../src/private-dns/index.js';
import { silentLogger, SystemClock } from '../../src/shared/index.js';
import { ControlSync } from '../../src/sync/index.js';
import { BenchError, median, round1 } from './util.js';

const OPERATOR = 'bench-names-operator-token-0123456789';
const HOSTS = [
  { id: 'h1', region: 'fra' },
  { id: 'h2', region: 'lhr' },
  { id: 'h3', region: 'iad' },
] as const;
const MACHINE = '0a1b2c3d4e5f60';
const NAME = 'fra.web.internal';
/** Longer than this and the round counts as timed out. */
const ROUND_TIMEOUT_MS = 10_000;

export interface NamesRound {
  round: number;
  /** Per host: ms from the report's send to the name answered there. */
  ms: Record<string, number | null>;
  /** The slowest host: the name is answered everywhere. */
  max_ms: number | null;
}

export interface NamesSummary {
  rounds: NamesRound[];
  hosts: number;
  /** Over rounds, of max_ms. */
  median_ms: number | null;
  max_ms: number | null;
  aim_ms: 200;
}

type Call = (token: string, method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

/** Whether the server at `port` answers NAME with `address` now. */
function answers(sock: dgram.Socket, port: number, address: string, id: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), 200);
    const onMessage = (msg: Buffer): void => {
      const p = dnsPacket.decode(msg);
      if (p.id === id) done((p.answers ?? []).some((a) => a.type === 'AAAA' && a.data === address));
    };
    const done = (v: boolean): void => {
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve(v);
    };
    sock.on('message', onMessage);
    sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'AAAA', name: NAME }] }), port, '127.0.0.1');
  });
}

export async function measureNames(rounds: number, log: (msg: string) => void): Promise<NamesSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-names-'));
  const clock = new SystemClock();
  const store = new SqliteStore({ path: join(dir, 'state.db') });
  let cp: ControlPlane | undefined;
  const syncs: ControlSync[] = [];
  const servers: PrivateDns[] = [];
  const socks: dgram.Socket[] = [];
  try {
    cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [OPERATOR], imagesDir: join(dir, 'images'), secretsKey: Buffer.alloc(32, 7), clock, logger: silentLogger });
    const base = `http://127.0.0.1:${cp.address.port}`;
    const call: Call = async (token, method, path, body) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? null : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const ok = async (what: string, p: ReturnType<Call>): Promise<Record<string, unknown>> => {
      const r = await p;
      if (r.status >= 300) throw new BenchError(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return r.body;
    };
    await ok('create app', call(OPERATOR, 'POST', '/v1/apps', { name: 'web', primary_region: 'fra' }));
    const creds = new Map<string, string>();
    for (const [i, h] of HOSTS.entries()) {
      const join = (await ok(`add ${h.id}`, call(OPERATOR, 'POST', '/v1/hosts', { id: h.id, region: h.region }))).join_token as string;
      const cred = (await ok(`join ${h.id}`, call(join, 'POST', '/v1/hosts/join'))).credential as string;
      creds.set(h.id, cred);
      const mesh = { public_key: generateMeshKeys().publicKey, endpoint: `127.0.0.1:${51900 + i}` };
      await ok(`register ${h.id}`, call(cred, 'PUT', `/v1/hosts/${h.id}`, { region: h.region, capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', agent_secret: 'ab'.repeat(32), mesh }));
    }
    // The placement, as the scheduler writes it (the machine runs on h1, in fra).
    const placed: MachineDoc = { id: MACHINE, app: 'web', region: 'fra', host: 'h1', release: 1, deploy: null, created_at: new Date().toISOString() };
    await store.put('machines', `web.${MACHINE}`, placed);
    const h1 = (await ok('hosts', call(OPERATOR, 'GET', '/v1/hosts'))).hosts as { id: string; mesh: { address: string } }[];
    const address = machineAddress(h1.find((h) => h.id === 'h1')!.mesh.address, 'personal', MACHINE);

    const dirs = new Map<string, PrivateDnsDirectory>();
    for (const h of HOSTS) {
      const sync = new ControlSync({ url: base, token: creds.get(h.id)!, cacheFile: join(dir, `${h.id}.cache.json`), clock, logger: silentLogger, onChange: (view) => dirs.set(h.id, privateDnsDirectory(view, h.id)) });
      syncs.push(sync);
      await sync.start();
      servers.push(
        await startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => dirs.get(h.id)?.dns ?? { instances: [], apps: [] }, askerOf: () => ({ org: 'personal', region: h.region }), clock, logger: silentLogger }),
      );
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      socks.push(sock);
    }
    const report = (state: 'started' | 'stopped') => ok(`report ${state}`, call(creds.get('h1')!, 'PUT', `/v1/hosts/h1/apps/web/machines/${MACHINE}/state`, { state, healthy: state === 'started', release: 1 }));
    let qid = 1;
    const everywhere = async (want: boolean, deadline: number): Promise<void> => {
      for (;;) {
        const got = await Promise.all(servers.map((s, i) => answers(socks[i]!, s.address.port, address, (qid = (qid + 1) & 0xffff))));
        if (got.every((g) => g === want)) return;
        if (Date.now() > deadline) throw new BenchError(`the name was not ${want ? 'answered' : 'gone'} everywhere within ${ROUND_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };

    const out: NamesRound[] = [];
    for (let round = 1; round <= rounds; round++) {
      await report('stopped');
      await everywhere(false, Date.now() + ROUND_TIMEOUT_MS);
      const t0 = performance.now();
      const reported = report('started');
      const ms: Record<string, number | null> = {};
      await Promise.all(
        servers.map(async (s, i) => {
          const host = HOSTS[i]!.id;
          ms[host] = null;
          while (performance.now() - t0 < ROUND_TIMEOUT_MS) {
            if (await answers(socks[i]!, s.address.port, address, (qid = (qid + 1) & 0xffff))) {
              ms[host] = round1(performance.now() - t0);
              return;
            }
            await new Promise((r) => setTimeout(r, 1));
          }
        }),
      );
      await reported;
      const values = Object.values(ms);
      const max = values.some((v) => v === null) ? null : Math.max(...(values as number[]));
      log(`names round ${round}: ${HOSTS.map((h) => `${h.id} ${ms[h.id] ?? 'timeout'} ms`).join(', ')}`);
      out.push({ round, ms, max_ms: max });
    }
    const maxes = out.map((r) => r.max_ms).filter((v): v is number => v !== null);
    return { rounds: out, hosts: HOSTS.length, median_ms: maxes.length ? round1(median(maxes)) : null, max_ms: maxes.length ? Math.max(...maxes) : null, aim_ms: 200 };
  } finally {
    for (const s of socks) s.close();
    for (const s of servers) await s.close();
    for (const s of syncs) await s.stop();
    await cp?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printNames(s: NamesSummary): void {
  console.log(`machine reported started → fra.web.internal answered on all ${s.hosts} hosts (control plane, feed, each host's DNS; one process): median ${s.median_ms ?? '-'} ms, max ${s.max_ms ?? '-'} ms over ${s.rounds.length} rounds (aim ≤ ${s.aim_ms} ms)`);
}
