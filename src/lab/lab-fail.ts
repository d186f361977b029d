/**
 * Injuring a PoP host and healing it (`lab fail`, `lab heal`):
 *   crash     SIGKILL the host's agent and its BIRD: the kernel closes the BGP sessions at once;
 *   silent    the host's link drops every frame it sends (tc tbf, no netem here) while staying up:
 *             only BFD (100 ms × 3) notices;
 *   graceful  `starling agent drain`: the routes are re-announced with GRACEFUL_SHUTDOWN, so the
 *             routers prefer any other path, then withdrawn after the drain delay; the proxy keeps
 *             serving throughout.
 * The mode is recorded in the state (meta.failures), so heal undoes exactly that: restart the agent,
 * restore the link, or `starling agent undrain`; then waits until the host announces again.
 */
import { StarlingError } from '../shared/index.js';
import { computeCatchment } from './catchment.js';
import { restoreLink, silenceLink } from './fabric.js';
import { agentCommand, crashAgent, recordAgentBird, startAgent } from './lab-agents.js';
import { failures, findPopHosts, recorded, setFailure, what, type FailMode, type LabContext } from './lab-context.js';
import { routerView, routerViews } from './lab-routers.js';
import { isRecordedAlive } from './lab-state.js';
import type { PopHostPlan } from './plan.js';
import { until } from './probe.js';

export const FAIL_MODES: readonly FailMode[] = ['crash', 'silent', 'graceful'];

export function assertFailMode(mode: string): FailMode {
  if (!(FAIL_MODES as readonly string[]).includes(mode)) {
    throw new StarlingError('ERR_USAGE', `--mode must be crash, silent or graceful, got "${mode}"`, { fault: 'user' });
  }
  return mode as FailMode;
}

/** PoP cities all of whose hosts are failed: withdrawn (or leaving), as far as BGP is concerned. */
export function downPops(ctx: LabContext, extra: readonly PopHostPlan[] = []): string[] {
  const failed = new Set([...Object.keys(failures(ctx)), ...extra.map((h) => h.id)]);
  const cities = [...new Set(ctx.plan.popHosts.map((h) => h.city))];
  return cities.filter((c) => ctx.plan.popHosts.filter((h) => h.city === c).every((h) => failed.has(h.id)));
}

/** Fails the PoP host(s) `which` names; returns one line per host saying what was done. */
export async function failPop(ctx: LabContext, which: string, mode: FailMode): Promise<string[]> {
  const hosts = findPopHosts(ctx, which);
  const already = hosts.filter((h) => failures(ctx)[h.id] !== undefined);
  if (already.length > 0) {
    throw new StarlingError('ERR_LAB_FAILED_ALREADY', `${already.map((h) => `${h.id} (${failures(ctx)[h.id]})`).join(', ')} failed already`, {
      fault: 'user',
      hint: `heal it first: starling lab heal ${which}`,
    });
  }
  const out: string[] = [];
  for (const h of hosts) {
    setFailure(ctx, h.id, mode);
    if (mode === 'crash') {
      const pids = crashAgent(ctx, h);
      const procs = [recorded(ctx, what.agent(h.id)), recorded(ctx, what.agentBird(h.id))].filter((p) => p !== undefined);
      await until(ctx.clock, () => procs.every((p) => !isRecordedAlive(p)), `the agent of ${h.id} to die`, 5000, 10);
      ctx.state.forget('process', ...procs.map((p) => p.pid));
      out.push(`${h.id}: agent and its BIRD killed (SIGKILL, pids ${pids.join(', ')})`);
    } else {
      // Recorded first (a lab fail killed halfway must still be healable); a silence or a drain
      // that failed changed nothing, so its record goes again and the host can be failed anew.
      try {
        if (mode === 'silent') {
          await silenceLink(h.ns, h.ifname, { clock: ctx.clock });
          out.push(`${h.id}: link ${h.ifname} silenced (tc tbf drops every frame; the link stays up)`);
        } else {
          const said = await agentCommand(ctx, h, 'drain');
          out.push(`${h.id}: ${said.split('\n')[0] ?? 'draining'}`);
        }
      } catch (e) {
        setFailure(ctx, h.id, undefined);
        throw e;
      }
    }
  }
  return out;
}

/**
 * Undoes what `lab fail` did to the PoP host(s) `which` names and waits until they announce again
 * and every router's choice is the expected one. Hosts that are not failed are left alone.
 */
export async function healPop(ctx: LabContext, which: string, timeoutMs = 30_000): Promise<string[]> {
  const hosts = findPopHosts(ctx, which);
  const out: string[] = [];
  for (const h of hosts) {
    const mode = failures(ctx)[h.id];
    if (mode === undefined) {
      out.push(`${h.id}: not failed, nothing to heal`);
      continue;
    }
    if (mode === 'crash') {
      startAgent(ctx, h);
      out.push(`${h.id}: agent started again`);
    } else if (mode === 'silent') {
      await restoreLink(h.ns, h.ifname, { clock: ctx.clock });
      out.push(`${h.id}: link ${h.ifname} restored`);
    } else {
      const said = await agentCommand(ctx, h, 'undrain');
      out.push(`${h.id}: ${said.split('\n')[0] ?? 'undrained'}`);
    }
  }
  const healed = hosts.filter((h) => failures(ctx)[h.id] !== undefined);
  await until(
    ctx.clock,
    async () => (await Promise.all(healed.map(async (h) => (await routerView(ctx, h.city)).hosts[h.id] === 'announced'))).every(Boolean),
    `${healed.map((h) => h.id).join(', ')} to announce again`,
    timeoutMs,
    50,
  );
  for (const h of healed) {
    if (failures(ctx)[h.id] === 'crash') recordAgentBird(ctx, h);
    setFailure(ctx, h.id, undefined);
  }
  await waitRoutersConverged(ctx, timeoutMs);
  return out;
}

/** Waits until every router's best anycast routes (IPv4 and IPv6) lead to the PoP computeCatchment expects now. */
export async function waitRoutersConverged(ctx: LabContext, timeoutMs = 30_000): Promise<void> {
  const expected = new Map(computeCatchment(ctx.topology, { down: downPops(ctx) }).cities.map((c) => [c.city, c.pop]));
  let wrong: string[] = [];
  await until(
    ctx.clock,
    async () => {
      const views = await routerViews(ctx);
      // Both families: a withdrawal takes the IPv4 and the IPv6 prefix, and each must land where computeCatchment says.
      wrong = views.flatMap((v) => {
        const want = expected.get(v.city) ?? null;
        return [v.pop === want ? [] : [`${v.city} routes to ${v.pop ?? 'nothing'}, expected ${want ?? 'nothing'}`], v.pop6 === want ? [] : [`${v.city} routes IPv6 to ${v.pop6 ?? 'nothing'}, expected ${want ?? 'nothing'}`]].flat();
      });
      return wrong.length === 0;
    },
    'the routers to converge on the expected catchment',
    timeoutMs,
    50,
    () => wrong.join('\n'),
  );
}
