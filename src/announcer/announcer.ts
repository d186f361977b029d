import diagnostics from 'node:diagnostics_channel';
import { describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import { gauge, renderExposition, type MetricFamily } from '../shared/index.js';
import { HealthMonitor, httpProbe, type Probe } from './health.js';
import { BirdSupervisor } from './supervisor.js';
import type { AnnouncerSpec } from './types.js';

/** Events: { type: 'announced' | 'withdrawn' | 'draining' | 'undrained' | 'bird-restarted', … } */
export const announcerChannel = diagnostics.channel('starling:announcer');

/** One BGP session as BIRD reports it. */
export interface SessionInfo {
  name: string;
  /** BIRD's protocol state (up, start, down) and BGP state (Established, Active, Connect, …). */
  state: string;
  bgpState: string | undefined;
  since: string | undefined;
  neighbor: string | undefined;
  lastError: string | undefined;
  exported: number | undefined;
}

/** The few BIRD control commands the announcer needs (an adapter over BirdClient implements them). */
export interface BirdControl {
  enable(name: string): Promise<unknown>;
  disable(name: string): Promise<unknown>;
  configure(): Promise<unknown>;
  sessions(): Promise<SessionInfo[]>;
  close(): void;
}

export interface AnnouncerStatus {
  bird: { running: boolean; pid: number | undefined; lastError: string | undefined };
  health: { healthy: boolean; lastResult: boolean | undefined; dampingLeftMs: number };
  drain: 'serving' | 'draining' | 'drained';
  prefixes: { prefix: string; announced: boolean; reason: PrefixReason; since: string }[];
  sessions: SessionInfo[];
}

export interface AnnouncerOptions {
  spec: AnnouncerSpec;
  clock: Clock;
  logger: Logger;
  /** Renders bird.conf for a state (src/announcer/bird-config.ts). */
  render: (spec: AnnouncerSpec, state: { announce: boolean; drained: boolean }) => string;
  connect: (socketPath: string) => Promise<BirdControl>;
  /** Defaults to an HTTP probe of spec.health.url. */
  probe?: Probe | undefined;
  /** Run BIRD inside a network namespace (the lab, tests). */
  wrap?: string[] | undefined;
}

export type PrefixReason = 'healthy' | 'unhealthy' | 'draining' | 'drained' | 'starting' | 'stopped';

/**
 * Announces the anycast prefixes while the local proxy is healthy, withdraws them when it is not,
 * and drains gracefully: GRACEFUL_SHUTDOWN community + prepend first, withdrawal after a delay.
 * The announced state lives in BIRD's config too, so a restarted BIRD comes back announcing.
 */
export class Announcer {
  readonly supervisor: BirdSupervisor;
  readonly health: HealthMonitor;
  private control: BirdControl | undefined;
  private healthy = false;
  private draining = false;
  private drained = false;
  private stopped = false;
  private drainTimer: TimerHandle | undefined;
  /** What BIRD was last told (static protocols enabled, drain filter on). */
  private applied = { announce: false, drainFilter: false };
  /** What the config file on disk says (what a freshly started BIRD does). */
  private written = { announce: false, drained: false };
  private chain: Promise<void> = Promise.resolve();
  reason: PrefixReason = 'starting';
  since: number;
  lastError: string | undefined;

  constructor(private readonly o: AnnouncerOptions) {
    const spec = o.spec;
    this.since = o.clock.now();
    this.supervisor = new BirdSupervisor({
      bird: spec.bgp.bird,
      stateDir: spec.state_dir,
      clock: o.clock,
      logger: o.logger.child({ component: 'bird' }),
      config: () => {
        this.written = this.desired();
        return o.render(spec, this.written);
      },
      wrap: o.wrap,
      onReady: () => void this.reconnect(),
    });
    const probe = o.probe ?? httpProbe(spec.health.url, spec.health.timeout_ms, o.clock);
    this.health = new HealthMonitor(spec.health, probe, o.clock, o.logger.child({ component: 'health' }), (h) => {
      this.healthy = h;
      void this.schedule();
    });
  }

  /** The static protocols that carry the prefixes, by family. */
  get protocols(): string[] {
    const p = this.o.spec.bgp.prefixes;
    return [...(p.some((x) => !x.includes(':')) ? ['starling4'] : []), ...(p.some((x) => x.includes(':')) ? ['starling6'] : [])];
  }

  desired(): { announce: boolean; drained: boolean } {
    return { announce: this.healthy && !this.drained && !this.stopped, drained: this.draining || this.drained };
  }

  get announced(): boolean {
    return this.applied.announce;
  }

  async start(): Promise<void> {
    await this.supervisor.start();
    this.health.start();
  }

  /** Tags the routes for graceful shutdown, then withdraws them after the drain delay. */
  drain(): void {
    if (this.draining || this.drained) return;
    this.draining = true;
    announcerChannel.publish({ type: 'draining', delay_ms: this.o.spec.drain.delay_ms });
    void this.schedule();
    this.drainTimer = this.o.clock.setTimeout(() => {
      this.draining = false;
      this.drained = true;
      void this.schedule();
    }, this.o.spec.drain.delay_ms);
  }

  undrain(): void {
    this.drainTimer?.cancel();
    this.draining = false;
    this.drained = false;
    announcerChannel.publish({ type: 'undrained' });
    void this.schedule();
  }

  get drainState(): 'serving' | 'draining' | 'drained' {
    return this.draining ? 'draining' : this.drained ? 'drained' : 'serving';
  }

  /** For `starling agent bgp status`: sessions from BIRD, prefixes and why they are (not) announced. */
  async status(): Promise<AnnouncerStatus> {
    let sessions: SessionInfo[] = [];
    if (this.control) {
      try {
        sessions = await this.control.sessions();
      } catch (e) {
        this.lastError = describeError(e);
      }
    }
    const since = new Date(this.since).toISOString();
    return {
      bird: { running: this.supervisor.running, pid: this.supervisor.pid, lastError: this.lastError },
      health: { healthy: this.healthy, lastResult: this.health.lastResult, dampingLeftMs: this.health.dampingLeft() },
      drain: this.drainState,
      prefixes: this.o.spec.bgp.prefixes.map((prefix) => ({ prefix, announced: this.applied.announce, reason: this.reason, since })),
      sessions,
    };
  }

  /** Prometheus gauges: one per session (1 when Established) and per prefix (1 when announced). */
  async metricFamilies(): Promise<MetricFamily[]> {
    const st = await this.status();
    return [
      gauge('starling_bgp_session_up', 'BGP session established (1) or not (0).', st.sessions.map((x) => ({ labels: { peer: x.name }, value: x.bgpState === 'Established' ? 1 : 0 }))),
      gauge('starling_bgp_prefix_announced', 'Anycast prefix announced (1) or withdrawn (0).', st.prefixes.map((p) => ({ labels: { prefix: p.prefix, reason: p.reason }, value: p.announced ? 1 : 0 }))),
      gauge('starling_bgp_healthy', 'Local health check state.', [{ value: st.health.healthy ? 1 : 0 }]),
    ];
  }

  async metricsText(): Promise<string> {
    return renderExposition(await this.metricFamilies());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.drainTimer?.cancel();
    this.health.stop();
    await this.chain;
    this.control?.close();
    await this.supervisor.stop();
    this.setReason('stopped');
  }

  /**
   * Applies the desired state to BIRD, one change at a time. Never rejects: a failure is logged and
   * kept in lastError, so a caller that does not wait for it may `void` it.
   */
  private schedule(): Promise<void> {
    this.chain = this.chain.then(() => this.apply()).catch((e: unknown) => {
      this.lastError = describeError(e);
      this.o.logger.error('applying announcement state failed', { error: this.lastError });
    });
    return this.chain;
  }

  private async apply(): Promise<void> {
    const want = this.desired();
    const c = this.control;
    this.setReason(this.stopped ? 'stopped' : this.drained ? 'drained' : this.draining ? 'draining' : this.healthy ? 'healthy' : 'unhealthy');
    if (!c) return;
    // The config on disk always matches the wish, so a BIRD restart keeps it.
    if (want.drained !== this.applied.drainFilter) {
      this.supervisor.writeConfig();
      await c.configure();
      this.applied.drainFilter = want.drained;
    }
    if (want.announce !== this.applied.announce) {
      this.supervisor.writeConfig();
      for (const p of this.protocols) await (want.announce ? c.enable(p) : c.disable(p));
      this.applied.announce = want.announce;
      announcerChannel.publish({ type: want.announce ? 'announced' : 'withdrawn', prefixes: this.o.spec.bgp.prefixes, reason: this.reason });
      this.o.logger.info(want.announce ? 'prefixes announced' : 'prefixes withdrawn', { reason: this.reason });
    }
  }

  private setReason(r: PrefixReason): void {
    if (r !== this.reason) {
      this.reason = r;
      this.since = this.o.clock.now();
    }
  }

  /** After BIRD (re)started: a new control connection; its state is what the config said. */
  private async reconnect(): Promise<void> {
    this.control?.close();
    this.control = undefined;
    try {
      const c = await this.o.connect(this.supervisor.paths.socket);
      this.applied = { announce: this.written.announce, drainFilter: this.written.drained };
      this.control = c;
      announcerChannel.publish({ type: 'bird-started', pid: this.supervisor.pid });
      await this.schedule();
    } catch (e) {
      this.lastError = describeError(e);
      this.o.logger.error('cannot reach bird', { error: this.lastError });
    }
  }
}
