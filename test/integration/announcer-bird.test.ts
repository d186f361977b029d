import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Announcer, announcerChannel, type AnnouncerSpec } from '../../src/announcer/index.js';
import { birdConfig } from '../../src/announcer/bird-config.js';
import { connectBirdControl } from '../../src/announcer/bird-control.js';
import { BirdClient } from '../../src/announcer/bird/client.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { startUpstream, type Upstream } from '../helpers/bird-upstream.js';
import { inNs, twoHosts, type Link } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Tier 3: the announcer's real BIRD in one network namespace, a plain BIRD "upstream router" in
 * another, a veth between them. Every assertion is on what the upstream learnt over BGP, and on the
 * order of what happened; how fast is bench:announce's business (bench/README.md).
 */
const PREFIX = '198.51.100.0/24'; // TEST-NET-2: documentation space, only inside these namespaces
/** A deadline for every wait: generous, since a slow machine is not a failure here. */
const DEADLINE = 20_000;
/**
 * The BGP hold time of the session, on both sides (the negotiated one is the smaller): far longer
 * than DEADLINE, so that a silently dead link can only be noticed within the deadline by BFD.
 */
const HOLD_S = 240;

describe('announcer with real BIRD peers', { timeout: 120_000 }, () => {
  let link: Link;
  let upstream: Upstream;
  let announcer: Announcer;
  let healthy = true;
  const dir = mkdtempSync(join(tmpdir(), 'starling-announcer-'));

  before(async () => {
    link = twoHosts();
    upstream = await startUpstream({
      ns: link.b,
      routerId: link.addrB,
      asn: 65000,
      neighbor: link.addrA,
      neighborAsn: 65001,
      bfd: { intervalMs: 100, multiplier: 3 },
      holdTime: HOLD_S,
      keepaliveTime: HOLD_S / 3,
    });
    const spec: AnnouncerSpec = {
      state_dir: join(dir, 'bird'),
      bgp: {
        asn: 65001,
        router_id: link.addrA,
        prefixes: [PREFIX],
        drain_prepend: 3,
        bird: process.env.BIRD ?? '/usr/sbin/bird',
        peers: [
          {
            name: 'transit',
            address: link.addrB,
            asn: 65000,
            hold_time: HOLD_S,
            keepalive_time: HOLD_S / 3,
            bfd: { enabled: true, interval_ms: 100, multiplier: 3 },
          },
        ],
      },
      health: { url: 'http://unused.invalid/', interval_ms: 50, timeout_ms: 40, rise: 2, fall: 2, damping_ms: 300 },
      drain: { delay_ms: 800 },
    };
    announcer = new Announcer({
      spec,
      clock: new SystemClock(),
      logger: silentLogger,
      render: birdConfig,
      connect: connectBirdControl,
      probe: async () => healthy,
      wrap: ['ip', 'netns', 'exec', link.a],
    });
    await announcer.start();
  });

  after(async () => {
    await announcer?.stop();
    await upstream?.stop();
    link?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const seen = async (): Promise<boolean> => (await upstream.routes(PREFIX)).length > 0;
  /** The announcer's announced/withdrawn events (diagnostics channel), in order, with their reason. */
  const events: string[] = [];
  const record = (m: unknown): void => {
    const e = m as { type: string; reason?: string };
    if (e.type === 'announced' || e.type === 'withdrawn') events.push(`${e.type} ${e.reason ?? ''}`);
  };
  before(() => announcerChannel.subscribe(record));
  after(() => announcerChannel.unsubscribe(record));

  it('announces the prefix while the local health check passes', async () => {
    await waitFor(seen, 'the upstream to learn the prefix', DEADLINE);
    const [route] = await upstream.routes(PREFIX);
    assert.deepEqual(route!.asPath, [65001]);
  });

  it('withdraws it when the health check fails, and announces it again on recovery, in that order', async () => {
    events.length = 0;
    healthy = false;
    await waitFor(async () => !(await seen()), 'the withdrawal to reach the upstream', DEADLINE);
    assert.equal(announcer.health.isHealthy, false);
    healthy = true;
    await waitFor(seen, 'the prefix to come back', DEADLINE);
    assert.deepEqual(events, ['withdrawn unhealthy', 'announced healthy']);
  });

  it('drain: GRACEFUL_SHUTDOWN community and prepends first, then the withdrawal; undrain brings it back', async () => {
    announcer.drain();
    await waitFor(async () => {
      const [r] = await upstream.routes(PREFIX);
      return r?.communities?.some(([a, b]) => a === 65535 && b === 0) === true;
    }, 'the route to carry 65535:0', DEADLINE);
    const [tagged] = await upstream.routes(PREFIX);
    assert.ok((tagged!.asPath?.length ?? 0) >= 4, `prepended path: ${String(tagged!.asPath)}`);
    await waitFor(async () => !(await seen()), 'the withdrawal after the drain delay', DEADLINE);
    announcer.undrain();
    await waitFor(async () => {
      const [r] = await upstream.routes(PREFIX);
      return r !== undefined && !r.communities?.some(([a]) => a === 65535);
    }, 'the plain route back after undrain', DEADLINE);
  });

  it("a SIGKILLed BIRD is restarted and the route comes back by itself", async () => {
    const pid = announcer.supervisor.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => announcer.supervisor.pid !== pid && announcer.supervisor.running, 'a new bird process', DEADLINE);
    await waitFor(seen, 'the route after the restart', DEADLINE);
  });

  it('a prefix that is not configured never reaches the upstream, even when BIRD holds it', async () => {
    // Sneak a foreign route into the announcer's BIRD, as a mistake or another protocol would.
    appendFileSync(announcer.supervisor.paths.config, '\nprotocol static rogue { ipv4; route 203.0.113.0/24 blackhole; }\n');
    const c = await BirdClient.connect(announcer.supervisor.paths.socket, { timeoutMs: 2000 });
    try {
      await c.configure();
      await waitFor(async () => (await c.showRoute('for 203.0.113.0/24')).length > 0, 'the rogue route in the local table', DEADLINE);
      // Give BGP every chance: the announced prefix is refreshed meanwhile, the rogue one never arrives.
      healthy = false;
      await waitFor(async () => !(await seen()), 'withdrawal', DEADLINE);
      healthy = true;
      await waitFor(seen, 'announcement', DEADLINE);
      assert.deepEqual(await upstream.routes('203.0.113.0/24'), []);
    } finally {
      await c.close();
    }
    announcer.supervisor.writeConfig(); // drop the rogue protocol again
  });

  it('BFD: a silently dead link withdraws the route, long before the hold timer could expire', async () => {
    await waitFor(seen, 'the prefix announced', DEADLINE);
    // tbf at 1 kbit with a 1-byte bucket drops every frame: the link is up but carries nothing.
    inNs(link.a, 'tc', 'qdisc', 'add', 'dev', link.ifA, 'root', 'tbf', 'rate', '1kbit', 'burst', '1', 'latency', '1ms');
    try {
      // The hold time is HOLD_S (240 s) ≫ DEADLINE: a withdrawal within the deadline is BFD's doing.
      await waitFor(async () => !(await seen()), 'BFD to take the route down', DEADLINE);
      const [session] = await upstream.client.showProtocolsAll('pop');
      assert.match(session?.bgp?.lastError ?? '', /BFD session down/, `the upstream says why the session went down: ${session?.bgp?.lastError}`);
    } finally {
      inNs(link.a, 'tc', 'qdisc', 'del', 'dev', link.ifA, 'root');
    }
    await waitFor(seen, 'the route after the link heals', DEADLINE);
  });
});
