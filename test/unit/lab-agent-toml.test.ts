/**
 * The agent.toml the lab writes for each PoP host: valid as a real agent would read it, and each
 * agent of the lab — they share one kernel — with its own range of machine uids. Only a normal
 * user's lab (inside its user-namespace holder) lets machines run as the holder's uid 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.js';
import { getPreset, planLab, type LabContext } from '../../src/lab/index.js';
import { parseControlConfig } from '../../src/control/index.js';
import { agentToml } from '../../src/lab/lab-agents.js';
import { controlToml } from '../../src/lab/lab-control.js';
import { inUserNamespace } from '../../src/lab/userns.js';

describe('lab agent.toml', () => {
  const plan = planLab(getPreset('default'), { lab: 'demo' });
  const ctx = { name: 'demo', dir: '/run/starling-lab/demo', plan } as unknown as LabContext;
  const configs = plan.popHosts.map((h) => parseAgentConfig(agentToml(ctx, h), `${h.id}/agent.toml`));

  it('gives every agent of the lab its own uid range (256 app blocks each), above the default base', () => {
    const bases = configs.map((c) => c.runtime.uid_base).sort((a, b) => a - b);
    assert.equal(new Set(bases).size, bases.length);
    assert.equal(bases[0], 0x70000000);
    for (let i = 1; i < bases.length; i++) assert.ok(bases[i]! - bases[i - 1]! >= 256 * 65536, 'ranges do not overlap');
  });

  it('allows host root only in the user-namespace holder of a normal user, and says why', () => {
    for (const c of configs) assert.equal(c.runtime.allow_host_root, inUserNamespace());
    const text = agentToml(ctx, plan.popHosts[0]!);
    if (inUserNamespace()) assert.match(text, /# The lab runs as a normal user.*\nallow_host_root = true/);
    else assert.doesNotMatch(text, /allow_host_root/);
  });
});

describe('lab HTTPS config', () => {
  const plan = planLab(getPreset('default'), { lab: 'demo' });
  const ctx = { name: 'demo', dir: '/run/starling-lab/demo', plan } as unknown as LabContext;

  it("every agent serves HTTPS on 443 beside plain HTTP on 80: the ports the lab's Pebble validates on", () => {
    for (const h of plan.popHosts) {
      const c = parseAgentConfig(agentToml(ctx, h), `${h.id}/agent.toml`);
      assert.equal(c.proxy.tls_listen, '[::]:443');
      assert.equal(c.proxy.listen, '[::]:80');
    }
  });

  it('dual stack: both anycast prefixes, one BGP peer per family at the router\'s address on the link, both with BFD', () => {
    for (const h of plan.popHosts) {
      const { bgp } = parseAgentConfig(agentToml(ctx, h), `${h.id}/agent.toml`).announcer;
      assert.deepEqual(bgp.prefixes, ['10.200.0.0/24', '2001:db8:200::/48']);
      assert.deepEqual(
        bgp.peers.map((p) => [p.name, p.address, p.asn, p.hold_time, p.bfd.enabled]),
        [['transit', h.routerAddress, h.routerAsn, 3, true], ['transit6', h.routerAddress6, h.routerAsn, 3, true]],
      );
    }
    // The proxy's dual-stack wildcard is how the IPv6 service address is served: it is on the loopback.
    assert.ok(plan.fabric.namespaces.find((n) => n.name === plan.popHosts[0]!.ns)?.loopback.includes('2001:db8:200::1/128'));
  });

  it("the control plane orders from the lab's Pebble (trusting its listener CA) and names the anycast address", () => {
    const c = parseControlConfig(controlToml(ctx), 'control.toml');
    assert.deepEqual(c.anycast_addresses, [plan.serviceAddress]);
    assert.equal(c.acme?.directory_url, `https://${plan.control.address}:14000/dir`);
    assert.equal(c.acme?.ca_file, '/run/starling-lab/demo/ca/listener-ca.pem');
    assert.deepEqual(c.acme?.challenges, ['tls-alpn-01', 'http-01']);
    assert.equal(c.acme?.retry_initial, 2000);
  });
});
